import DICOM
import DICOMObjects
import Foundation
import TestSupport

/// Shared set-up of the Segmentation and Report tests: a generated CT phantom series with its
/// ground-truth label map, segment descriptions for its four labels, and the validators.
struct SegmentationFixture {
    let directory: TemporaryDirectory
    let generator: SeriesGenerator
    let written: SeriesGenerator.Written
    var grid: SourceImageGrid
    var labels: [UInt8]
    let uids = try! UIDGenerator()

    init(_ configure: (inout SeriesGenerator) -> Void = { _ in }) throws {
        directory = TemporaryDirectory("mambanode-seg")
        var generator = SeriesGenerator()
        generator.rows = 40
        generator.columns = 48
        generator.slices = 12
        generator.pixelSpacing = (row: 5, column: 5)
        generator.sliceSpacing = 10
        generator.phantom.noise = 0
        configure(&generator)
        self.generator = generator
        written = try generator.write(to: directory.path + "/source")
        grid = try generator.grid(of: written)
        labels = generator.labels()
    }

    /// Reverses the slice order of the grid and the label map (slice 0 becomes the last position).
    mutating func reverseSlices() throws {
        let perSlice = grid.rows * grid.columns
        labels = (0..<grid.sliceCount).reversed().flatMap { labels[($0 * perSlice)..<(($0 + 1) * perSlice)] }
        grid = try SourceImageGrid(
            rows: grid.rows, columns: grid.columns, rowDirection: grid.rowDirection,
            columnDirection: grid.columnDirection, pixelSpacing: grid.pixelSpacing,
            sliceThickness: grid.sliceThickness, spacingBetweenSlices: grid.spacingBetweenSlices,
            frames: grid.frames.reversed(), referencePath: grid.referencePath)
    }

    static let organs: [(String, CodedConcept, (UInt8, UInt8, UInt8))] = [
        ("Liver", CodedConcept("10200004", "SCT", "Liver"), (221, 130, 101)),
        ("Spleen", CodedConcept("78961009", "SCT", "Spleen"), (157, 108, 162)),
        ("Vertebra", CodedConcept("51282000", "SCT", "Vertebra"), (241, 214, 145)),
        ("Lesion", CodedConcept("52988006", "SCT", "Lesion"), (255, 0, 0))
    ]

    func segments(count: Int = 4) throws -> [SegmentDescription] {
        let algorithm = try AlgorithmIdentification(name: "nnMamba test", version: "0.1")
        return try (0..<count).map { i in
            let (label, type, rgb) = Self.organs[i % Self.organs.count]
            return try SegmentDescription(
                number: i + 1, label: label, category: .anatomicalStructure, type: type,
                algorithmType: .automatic, algorithm: algorithm,
                displayColor: CIELabColor(sRGB: rgb),
                tracking: TrackingIdentity(identifier: "\(label) \(i + 1)", uid: uids.make()))
        }
    }

    func writer(
        pixels: SegmentationPixels? = nil, segments: [SegmentDescription]? = nil,
        omitEmptyFrames: Bool = true
    ) throws -> SegmentationWriter {
        try SegmentationWriter(
            grid: grid, pixels: pixels ?? .labels(labels), segments: segments ?? self.segments(),
            series: SeriesIdentity(uids: uids, seriesNumber: 901, seriesDescription: "MambaNode segmentation"),
            content: ContentIdentity(label: "SEGMENTATION", description: "nnMamba test", creator: "MambaNode^nnMamba"),
            equipment: EquipmentIdentity(deviceSerialNumber: "test-node", softwareVersions: "0.1"),
            uids: uids, omitEmptyFrames: omitEmptyFrames)
    }

    /// Runs the highdicom read-back (Tests/Scripts/seg_readback.py) against `labels` or `masks`.
    func readBack(
        seg path: String, labels: [UInt8]? = nil, masks: [[UInt8]]? = nil, segmentCount: Int
    ) throws -> ExternalTool.Result {
        var job: [String: Any] = [
            "seg": path,
            "shape": [grid.sliceCount, grid.rows, grid.columns],
            "segment_count": segmentCount,
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
        if let masks {
            job["masks"] = try masks.enumerated().map { i, mask in
                let file = directory.file("mask\(i).raw")
                try Data(mask).write(to: URL(fileURLWithPath: file))
                return file
            }
        } else {
            let file = directory.file("labels.raw")
            try Data(labels ?? self.labels).write(to: URL(fileURLWithPath: file))
            job["label_map"] = file
            job["dtype"] = "uint8"
        }
        let jobFile = directory.file("readback.json")
        try JSONSerialization.data(withJSONObject: job).write(to: URL(fileURLWithPath: jobFile))
        return try VenvPython.run(script: "seg_readback.py", [jobFile])
    }
}

/// dicom3tools' verdicts: the lines that start with "Error" (warnings are reported, not failed).
enum Validators {
    static func dciodvfyErrors(_ path: String) throws -> [String] {
        let result = try ExternalTool.run("dciodvfy", [path])
        return result.output.split(separator: "\n").map(String.init).filter { $0.hasPrefix("Error") }
    }

    static func dcentvfyErrors(_ paths: [String]) throws -> [String] {
        let result = try ExternalTool.run("dcentvfy", paths)
        return result.output.split(separator: "\n").map(String.init).filter { $0.hasPrefix("Error") }
    }
}
