import DICOM
import DICOMObjects
import Foundation
import Results
import TestSupport
import Testing
import Volume

/// `mambanode encode`, run as the built binary (swift-argument-parser's example tests do the same).
@Suite struct EncodeCommandTests {
    private struct Run {
        var status: Int32
        var output: String
        var errorOutput: String
    }

    private func encode(_ source: GeneratedSource, labels: String, extra: [String] = []) throws -> Run {
        let model = source.directory.file("model")
        try Manifests.writePackage(Manifests.segmentation(), into: model)
        let logs = TemporaryDirectory("encode-cli")
        let child = try ChildProcess(
            BuiltProducts.mambanode,
            [
                "encode", "--source", source.directory.file("source"),
                "--labels", labels, "--model", model,
                "--output", source.directory.file("out")
            ] + extra,
            logDirectory: logs.path)
        let status = child.waitBlocking()
        return Run(status: status, output: child.standardOutput, errorOutput: child.standardError)
    }

    @Test func writesSEGAndSRAndPrintsThem() throws {
        let source = try GeneratedSource(.reversedSlices)
        let result = try encode(source, labels: source.writeLabels(), extra: ["--version", "3"])
        try #require(result.status == 0, "\(result.errorOutput)")
        let lines = result.output.split(separator: "\n").map { $0.split(separator: "\t").map(String.init) }
        let objects = lines.filter { $0.first == "SEG" || $0.first == "SR" }
        try #require(objects.map { $0[0] } == ["SEG", "SR"], "\(result.output)")
        let seg = objects[0], sr = objects[1]
        #expect(seg[2] == SegmentationWriter.sopClassUID && sr[2] == ReportWriter.sopClassUID)
        #expect(try DataSet.read(contentsOf: seg[1], headerOnly: true).string(.sopInstanceUID) == seg[3])
        #expect(try DataSet.read(contentsOf: sr[1], headerOnly: true).string(.sopInstanceUID) == sr[3])
        // Version 3: 900 + 2 × 100.
        #expect(seg[4] == "series 1100" && sr[4] == "series 1101")

        // One line per segment, in segment order, with its volume in mL.
        var counts = [Int](repeating: 0, count: 5)
        for value in source.labels { counts[Int(Manifests.segmentOfValue[Int(value)])] += 1 }
        let segments = lines.filter { $0.first?.hasPrefix("  segment") == true }
        #expect(segments.map { $0[1] } == ["Spleen", "Liver", "Vertebra", "Lesion"])
        for (n, line) in segments.enumerated() {
            #expect(line[2] == "\(counts[n + 1]) voxels")
            #expect(line[3] == String(format: "%.3f mL", Double(counts[n + 1]) * source.voxelVolume / 1000))
        }

        #expect(try ReadBack.dciodvfyErrors(seg[1]) == [])
        #expect(try ReadBack.dciodvfyErrors(sr[1]) == [])
        #expect(try ReadBack.dcentvfyErrors(source.written.files + [seg[1], sr[1]]) == [])
        let dump = try ExternalTool.run("dsrdump", [sr[1]])
        #expect(dump.status == 0, "\(dump.output)")
        let grid = try SourceImages(volume: source.volume, series: source.series).grid
        let back = try ReadBack.segmentation(
            seg[1], grid: grid, segmentNumbers: source.labels.map { Manifests.segmentOfValue[Int($0)] },
            segmentCount: 4, in: source.directory)
        #expect(back.status == 0, "\(back.output)")
    }

    @Test func refusesLabelMapOffTheSourceGrid() throws {
        let source = try GeneratedSource(.axialCT)
        var geometry = source.volume.geometry
        geometry.origin.x += 0.5
        let result = try encode(source, labels: source.writeLabels(source.labelVolume(geometry: geometry)))
        #expect(result.status == 1)
        #expect(
            result.errorOutput.contains("gridMismatch") && result.errorOutput.contains("origin"),
            "\(result.errorOutput)")
        // Both grids are named.
        #expect(result.errorOutput.contains("label map 48×40×12") && result.errorOutput.contains("source 48×40×12"))
        #expect(!FileManager.default.fileExists(atPath: source.directory.file("out")))
    }

    /// The pipeline most groups use: dcm2niix's NIfTI of the source (rows and columns flipped
    /// against ours), a label map drawn on it. Reordered exactly: the SEG read back by highdicom
    /// equals the ground truth voxel for voxel in world coordinates. Half a voxel off, it is
    /// refused naming the offset, and resampled only with --resample-labels.
    @Test(arguments: [SourceKind.doubleObliqueMR, .reversedSlices])
    func acceptsALabelMapOnDcm2niixsGrid(_ kind: SourceKind) throws {
        let source = try GeneratedSource(kind)
        let converted = TemporaryDirectory("dcm2niix")
        try ExternalTool.check(
            "dcm2niix",
            [
                "-z", "n", "-b", "n", "-f", "d2n", "-o", converted.path,
                source.directory.file("source")
            ])
        let g = try NIfTI.read(contentsOf: converted.file("d2n.nii")).geometry
        let s = source.volume.geometry
        // The ground truth drawn on another grid (exact where the voxel centres coincide).
        func labels(on g: Geometry) -> Volume { source.labelVolume().resampled(to: g, interpolation: .nearest) }
        #expect(g.direction != s.direction, "dcm2niix wrote the source's own axis order: nothing to reorder")

        let result = try encode(source, labels: source.writeLabels(labels(on: g), name: "d2n-labels.nii.gz"))
        try #require(result.status == 0, "\(result.errorOutput)")
        #expect(result.output.contains("labels\treordered onto the source grid"), "\(result.output)")
        let seg = try #require(
            result.output.split(separator: "\n").map { $0.split(separator: "\t").map(String.init) }
                .first { $0.first == "SEG" })
        let grid = try SourceImages(volume: source.volume, series: source.series).grid
        let back = try ReadBack.segmentation(
            seg[1], grid: grid, segmentNumbers: source.labels.map { Manifests.segmentOfValue[Int($0)] },
            segmentCount: 4, in: source.directory)
        #expect(back.status == 0, "\(back.output)")

        var shifted = g
        shifted.origin += g.direction.c1 * (g.spacing.y / 2)
        let path = try source.writeLabels(labels(on: shifted), name: "shifted.nii.gz")
        let refused = try encode(source, labels: path)
        #expect(refused.status == 1 && refused.errorOutput.contains("offset by ("), "\(refused.errorOutput)")
        try FileManager.default.removeItem(atPath: source.directory.file("out"))
        let resampled = try encode(source, labels: path, extra: ["--resample-labels"])
        #expect(
            resampled.status == 0 && resampled.output.contains("labels\tresampled nearest-neighbour"),
            "\(resampled.errorOutput)")
    }

    @Test func refusesLabelValueTheModelDoesNotDescribe() throws {
        let source = try GeneratedSource(.axialCT)
        var labels = source.labels
        labels[labels.count / 2] = 9
        let result = try encode(source, labels: source.writeLabels(source.labelVolume(labels)))
        #expect(result.status == 1)
        #expect(result.errorOutput.contains("label value 9"), "\(result.errorOutput)")
    }
}
