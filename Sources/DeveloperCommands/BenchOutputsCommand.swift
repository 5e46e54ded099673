import ArgumentParser
import DICOM
import Foundation
import ModelPackage
import Pipeline
import Results
import SampleGenerator
import ToolCommands
import Volume

/// `mambanode bench outputs`: encodes every output (SEG, SR, RT Structure Set, presentation
/// state, Secondary Capture overlays, Key Objects) of a generated CT with the abdomen phantom's
/// five organs, and in the same run builds the same RT Structure Set with rt-utils (venv script);
/// prints each output's time and the RTSTRUCT ratio (docs/results.md).
public struct BenchOutputsCommand: ParsableCommand {
    public init() {}

    public static let configuration = CommandConfiguration(
        commandName: "outputs",
        abstract: "Time to encode each output kind; RT Structure Set vs rt-utils on the same labels.")

    @Option(help: "Number of slices.") var slices = 300
    @Option(help: "Rows and columns of each slice.") var size = 512
    @Option(help: "Model package whose labels name the organs.") var model = "Samples/models/ct-organs"
    @Option(help: "Repetitions (the best time of each output is reported).") var repeats = 2
    @Option(help: "Python with rt-utils (the package venv by default).") var python = ".venv/bin/python"
    @Option(help: "The rt-utils half of the benchmark.") var script = "Tests/Scripts/bench_rtstruct_rtutils.py"
    @Flag(help: "Skip the rt-utils run.") var skipRTUtils = false
    @Option(help: "Keep the generated series and outputs in this folder (default: a temporary one, removed).")
    var keep: String?

    public func validate() throws {
        guard slices > 0, size >= 16, repeats > 0 else {
            throw ValidationError("--slices, --size ≥ 16 and --repeats must be positive")
        }
    }

    public func run() throws {
        let directory =
            keep ?? NSTemporaryDirectory() + "mambanode-bench-outputs-\(ProcessInfo.processInfo.processIdentifier)"
        defer { if keep == nil { try? FileManager.default.removeItem(atPath: directory) } }
        let package = try ModelPackage(directory: model)
        var generator = SeriesGenerator()
        generator.rows = size
        generator.columns = size
        generator.slices = slices
        generator.pixelSpacing = (0.7, 0.7)
        generator.sliceSpacing = 1
        generator.phantom = .abdomenCT(size: 0.7 * Double(size) * 0.9, noise: 0)
        let clock = ContinuousClock.now
        try generator.write(to: directory + "/source")
        let labels = generator.labels()
        let series = try Series.scan(directory: directory + "/source")[0]
        let source = try SourceImages(volume: try series.assemble().volume, series: series)
        let labelMap = try LabelMap(
            Volume(geometry: source.geometry, voxels: labels.map(Float.init)), on: source.geometry)
        printError(
            "generated and assembled \(slices) × \(size)² CT in \(BenchReference.format(BenchReference.seconds(since: clock))) s"
        )

        let encoder = try ResultEncoder(
            manifest: package.manifest,
            configuration: try NodeIdentity.encoderConfiguration(aeTitle: "MAMBANODE"), uids: UIDGenerator())
        var best: [String: Double] = [:]
        var result: EncodedResult?
        for run in 0..<repeats {
            let out = directory + "/mambanode-\(run + 1)"
            let encoded = try encoder.encodeSegmentation(
                labelMap, source: source, outputs: Set(EncodedObject.Kind.allCases), into: out)
            for (key, value) in encoded.timings { best[key] = min(best[key] ?? .infinity, value) }
            result = encoded
        }
        let objects = result!.objects
        let scCount = objects.filter { $0.kind == .secondaryCapture }.count
        for key in ["SEG", "SR", "outlines", "RTSTRUCT", "GSPS", "SC", "KO"] {
            let count = key == "SC" ? " (\(scCount) images)" : ""
            print("\(key): \(BenchReference.format(best[key] ?? .nan)) s\(count)")
        }
        // What a destination asking for an RT Structure Set waits for: the shared outlines and the writer.
        let rtstruct = (best["outlines"] ?? 0) + (best["RTSTRUCT"] ?? 0)
        let rtPath = objects.first { $0.kind == .structureSet }!.path
        print(
            "mambanode RTSTRUCT (outlines + writing): \(BenchReference.format(rtstruct)) s, \(BenchReference.format(Double(try BenchReference.fileSize(rtPath)) / 1e6)) MB"
        )
        guard !skipRTUtils else { return }

        let labelFile = directory + "/labels.raw"
        try Data(labels).write(to: URL(fileURLWithPath: labelFile))
        let rois = (package.manifest.labels ?? []).map { [$0.value, $0.name] as [Any] }
        let job: [String: Any] = [
            "label_map": labelFile, "shape": [slices, size, size], "source_dir": directory + "/source",
            "sources": source.grid.frames.map(\.sopInstanceUID), "rois": rois, "output": directory + "/rt-utils.dcm"
        ]
        let jobFile = directory + "/bench.json"
        try JSONSerialization.data(withJSONObject: job).write(to: URL(fileURLWithPath: jobFile))
        let output = try BenchReference.runPython(python, [script, jobFile])
        guard let line = output.split(separator: "\n").last,
            let reference = try JSONSerialization.jsonObject(with: Data(line.utf8)) as? [String: Any],
            let theirTime = reference["seconds"] as? Double, let theirBytes = reference["bytes"] as? Int
        else {
            throw ValidationError("the rt-utils script did not report a result:\n\(output)")
        }
        print(
            "rt-utils RTSTRUCT: \(BenchReference.format(theirTime)) s, \(BenchReference.format(Double(theirBytes) / 1e6)) MB (series loading not counted)"
        )
        print("speed-up RTSTRUCT (rt-utils / mambanode): \(BenchReference.format(theirTime / rtstruct))×")
    }
}
