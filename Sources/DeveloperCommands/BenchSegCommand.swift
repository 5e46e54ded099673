import ArgumentParser
import DICOM
import DICOMObjects
import Foundation
import SampleGenerator
import ToolCommands

/// `mambanode bench seg`: writes a BINARY SEG for a generated CT with a 10-label map with
/// MambaNode and, in the same run, with highdicom (venv script); prints times, sizes and ratios.
/// Both sides are timed from a label map and source headers in memory to the file on disk.
public struct BenchSegCommand: ParsableCommand {
    public init() {}

    public static let configuration = CommandConfiguration(
        commandName: "seg",
        abstract: "SEG writing time and size: MambaNode vs highdicom on the same label map.")

    @Option(help: "Number of slices.") var slices = 300
    @Option(help: "Rows and columns of each slice.") var size = 512
    @Option(help: "Repetitions of the MambaNode write (the best time is reported).") var repeats = 3
    @Option(help: "Python with highdicom (the package venv by default).") var python = ".venv/bin/python"
    @Option(help: "The highdicom half of the benchmark.") var script = "Tests/Scripts/bench_seg_highdicom.py"
    @Flag(help: "Skip the highdicom run.") var skipHighdicom = false
    @Option(help: "Keep the generated series and SEGs in this folder (default: a temporary one, removed).")
    var keep: String?

    public func validate() throws {
        guard slices > 0, size >= 16, repeats > 0 else {
            throw ValidationError("--slices, --size ≥ 16 and --repeats must be positive")
        }
    }

    public func run() throws {
        let directory =
            keep ?? NSTemporaryDirectory() + "mambanode-bench-seg-\(ProcessInfo.processInfo.processIdentifier)"
        defer { if keep == nil { try? FileManager.default.removeItem(atPath: directory) } }
        var generator = SeriesGenerator()
        generator.rows = size
        generator.columns = size
        generator.slices = slices
        generator.pixelSpacing = (0.7, 0.7)
        generator.sliceSpacing = 1
        generator.phantom = Self.tenLabelPhantom()
        var clock = ContinuousClock.now
        let written = try generator.write(to: directory + "/source")
        let labels = generator.labels()
        printError(
            "generated \(slices) × \(size)² CT and its label map in \(BenchReference.format(BenchReference.seconds(since: clock))) s"
        )

        clock = .now
        let grid = try Self.grid(generator, written)
        let headerTime = BenchReference.seconds(since: clock)
        let uids = try UIDGenerator()
        let algorithm = try AlgorithmIdentification(name: "nnMamba bench", version: "0.1")
        let segments = try (1...10).map { n in
            try SegmentDescription(
                number: n, label: "Organ \(n)", category: .anatomicalStructure,
                type: CodedConcept("113343008", "SCT", "Organ"), algorithmType: .automatic,
                algorithm: algorithm)
        }
        var best = Double.infinity
        var ours: SegmentationWriter.Written?
        var ourPath = ""
        for run in 0..<repeats {
            // A new file each time: rewriting a file in place makes ext4 flush it on close
            // (auto_da_alloc), which the node never does.
            ourPath = directory + "/mambanode-seg-\(run + 1).dcm"
            clock = .now
            let writer = try SegmentationWriter(
                grid: grid, pixels: .labels(labels), segments: segments,
                series: SeriesIdentity(uids: uids, seriesNumber: 901, seriesDescription: "bench"),
                content: ContentIdentity(label: "BENCH"),
                equipment: EquipmentIdentity(deviceSerialNumber: "bench", softwareVersions: "0.1"), uids: uids)
            ours = try writer.write(to: ourPath)
            best = min(best, BenchReference.seconds(since: clock))
        }
        let ourBytes = try BenchReference.fileSize(ourPath)
        print(
            "mambanode: \(BenchReference.format(best)) s, \(BenchReference.format(Double(ourBytes) / 1e6)) MB, \(ours!.frames.count) frames (source headers \(BenchReference.format(headerTime)) s, not included)"
        )
        guard !skipHighdicom else { return }

        let labelFile = directory + "/labels.raw"
        try Data(labels).write(to: URL(fileURLWithPath: labelFile))
        let job: [String: Any] = [
            "label_map": labelFile, "shape": [slices, size, size], "sources": written.files,
            "segments": segments.map(\.label), "output": directory + "/highdicom-seg.dcm"
        ]
        let jobFile = directory + "/bench.json"
        try JSONSerialization.data(withJSONObject: job).write(to: URL(fileURLWithPath: jobFile))
        let output = try BenchReference.runPython(python, [script, jobFile])
        guard let line = output.split(separator: "\n").last,
            let result = try JSONSerialization.jsonObject(with: Data(line.utf8)) as? [String: Any],
            let theirTime = result["seconds"] as? Double, let theirBytes = result["bytes"] as? Int
        else {
            throw ValidationError("the highdicom script did not report a result:\n\(output)")
        }
        print(
            "highdicom: \(BenchReference.format(theirTime)) s, \(BenchReference.format(Double(theirBytes) / 1e6)) MB, \(result["frames"] ?? "?") frames"
        )
        print(
            "speed-up: \(BenchReference.format(theirTime / best))×, size ratio (mambanode/highdicom): \(BenchReference.format(Double(ourBytes) / Double(theirBytes)))"
        )
    }

    /// Ten labelled ellipsoids of different sizes inside a body, spread over the field and the stack.
    static func tenLabelPhantom() -> Phantom {
        var ellipsoids = [Phantom.Ellipsoid(center: .zero, radii: SIMD3(160, 120, 160), value: 40, label: 0)]
        for n in 1...10 {
            let angle = Double(n) / 10 * 2 * .pi
            let center = SIMD3(cos(angle) * 90, sin(angle) * 70, Double(n - 5) * 18)
            let r = 18 + Double(n % 4) * 6
            ellipsoids.append(
                Phantom.Ellipsoid(
                    center: center, radii: SIMD3(r, r * 0.8, 20 + Double(n % 5) * 6),
                    value: 60 + Double(n) * 10, label: n))
        }
        return Phantom(background: -1000, ellipsoids: ellipsoids, noise: 0)
    }

    static func grid(_ generator: SeriesGenerator, _ written: SeriesGenerator.Written) throws -> SourceImageGrid {
        let frames = try written.files.enumerated().map { k, path in
            let ds = try DataSet.read(contentsOf: path, headerOnly: true)
            return SourceFrame(
                sopClassUID: try ds.requiredString(.sopClassUID),
                sopInstanceUID: try ds.requiredString(.sopInstanceUID),
                position: generator.position(ofSlice: k))
        }
        return try SourceImageGrid(
            rows: generator.rows, columns: generator.columns, rowDirection: generator.rowDirection,
            columnDirection: generator.columnDirection, pixelSpacing: generator.pixelSpacing,
            sliceThickness: generator.sliceSpacing, spacingBetweenSlices: generator.sliceSpacing,
            frames: frames, referencePath: written.files[0])
    }
}
