import DICOM
import DICOMObjects
import Foundation
import Results
import TestSupport

/// The independent checks of docs/conformance.md on written results: dicom3tools, dsrdump and highdicom
/// (Tests/Scripts/seg_readback.py, sr_readback.py).
enum ReadBack {
    /// dciodvfy's lines that start with "Error" (warnings are reported, not failed).
    static func dciodvfyErrors(_ path: String) throws -> [String] {
        errors(try ExternalTool.run("dciodvfy", [path]).output)
    }

    /// dcentvfy's errors across source + results (one patient, study, frame of reference…).
    static func dcentvfyErrors(_ paths: [String]) throws -> [String] {
        errors(try ExternalTool.run("dcentvfy", paths).output)
    }

    static func errors(_ output: String) -> [String] {
        output.split(separator: "\n").map(String.init).filter { $0.hasPrefix("Error") }
    }

    /// highdicom reads the SEG back: per source instance/frame and in world coordinates, its
    /// masks must equal `segmentNumbers` (a segment-number map in grid order).
    static func segmentation(
        _ path: String, grid: SourceImageGrid, segmentNumbers: [UInt8], segmentCount: Int,
        in directory: TemporaryDirectory
    ) throws -> ExternalTool.Result {
        let mapFile = directory.file("expected-segments.raw")
        try Data(segmentNumbers).write(to: URL(fileURLWithPath: mapFile))
        let job: [String: Any] = [
            "seg": path,
            "shape": [grid.sliceCount, grid.rows, grid.columns],
            "segment_count": segmentCount,
            "label_map": mapFile,
            "dtype": "uint8",
            "orientation": [
                grid.rowDirection.x, grid.rowDirection.y, grid.rowDirection.z,
                grid.columnDirection.x, grid.columnDirection.y, grid.columnDirection.z
            ],
            "pixel_spacing": [grid.pixelSpacing.row, grid.pixelSpacing.column],
            "sources": grid.frames.map { f -> [String: Any] in
                [
                    "uid": f.sopInstanceUID, "frame": f.frameNumber ?? NSNull(),
                    "position": [f.position.x, f.position.y, f.position.z]
                ]
            }
        ]
        return try VenvPython.run(script: "seg_readback.py", [write(job, "seg-readback.json", in: directory)])
    }

    /// highdicom parses the SR as TID 1500; `job` holds what sr_readback.py expects
    /// (volumes by tracking UID, classification, landmarks, distances).
    static func report(
        _ path: String, job: [String: Any], in directory: TemporaryDirectory
    ) throws -> ExternalTool.Result {
        var job = job
        job["sr"] = path
        return try VenvPython.run(script: "sr_readback.py", [write(job, "sr-readback.json", in: directory)])
    }

    /// Segment number → Tracking UID, as the SEG's Segment Sequence carries them.
    static func trackingUIDs(ofSEG path: String) throws -> [Int: String] {
        let ds = try DataSet.read(contentsOf: path, headerOnly: true)
        var uids: [Int: String] = [:]
        for item in try ds.items(.segmentSequence) ?? [] {
            if let number = try item.int(.segmentNumber), let uid = try item.string(.trackingUID) { uids[number] = uid }
        }
        return uids
    }

    private static func write(_ job: [String: Any], _ name: String, in directory: TemporaryDirectory) throws -> String {
        let file = directory.file(name)
        try JSONSerialization.data(withJSONObject: job).write(to: URL(fileURLWithPath: file))
        return file
    }
}
