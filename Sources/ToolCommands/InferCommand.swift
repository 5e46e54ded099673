import ArgumentParser
import Foundation
import ModelPackage
import NNMamba
import Pipeline
import Volume

/// `mambanode infer --model DIR --input IN.nii.gz [--input …] [--output OUT.nii.gz]`: runs a model
/// package on NIfTI volumes. Segmentation writes the label map on the input's
/// grid; every task prints its result as JSON on standard output.
public struct InferCommand: ParsableCommand {
    public init() {}

    public static let configuration = CommandConfiguration(
        commandName: "infer",
        abstract: "Run a model package on NIfTI volumes.",
        discussion: """
            Give one --input per model input channel, in the order of the package's model.json, all \
            on the same grid. Segmentation writes the label map to --output (same grid as the \
            input); landmarks and classification print their result as JSON. --raw-output also \
            writes the prepared network input and the network's raw output on it (for checking an \
            exported package against PyTorch).
            """
    )

    @Option(help: "Model package folder (model.json, weights.safetensors).")
    var model: String

    @Option(name: .customLong("input"), help: "Input volume (.nii or .nii.gz); repeat for each channel.")
    var inputs: [String] = []

    @Option(help: "Label map to write (.nii or .nii.gz); segmentation models only.")
    var output: String?

    /// Lets Tools/ (the PyTorch bridge) check an exported package end to end: the same
    /// preprocessing and loaded weights as the run, but none of the post-processing that would
    /// hide a numeric difference (sliding-window averaging, softmax, argmax).
    @Option(
        help: ArgumentHelp(
            "Also write the prepared network input (key 'input', [1, C, D, H, W]) and the network's raw output on it "
                + "in one forward pass (key 'output'; no sliding window, mirroring or softmax) to this .safetensors file.",
            valueName: "FILE.safetensors"))
    var rawOutput: String?

    @Flag(help: "Crop to the box of non-zero voxels before resampling (nnU-Net's first step).")
    var cropToNonZero = false

    @Option(
        help:
            "Sub-voxel landmark refinement when the package names none: peak, centroid (of the 3×3×3 peak neighbourhood) or parabolic (per-axis vertex through the peak's neighbours)."
    )
    var landmarkRefinement: LandmarkRefinement = .peak

    @Option(help: "Threads for the engine and OpenBLAS (default: all cores).")
    var threads: Int?

    public func validate() throws {
        guard !inputs.isEmpty else { throw ValidationError("give at least one --input") }
        if let output, !(output.hasSuffix(".nii") || output.hasSuffix(".nii.gz")) {
            throw ValidationError("--output must end in .nii or .nii.gz")
        }
        if let threads, threads < 1 { throw ValidationError("--threads must be ≥ 1") }
        if let rawOutput, !rawOutput.hasSuffix(".safetensors") {
            throw ValidationError("--raw-output must end in .safetensors")
        }
    }

    public func run() throws {
        if let threads { Parallel.setThreadCount(threads) }
        do {
            let package = try ModelPackage(directory: model)
            if package.manifest.task == .segmentation && output == nil {
                throw ValidationError("a segmentation model needs --output OUT.nii.gz")
            }
            if package.manifest.task != .segmentation && output != nil {
                printError(
                    "mambanode infer: warning: a \(package.manifest.task.rawValue) model writes no --output file")
            }
            var options = InferencePipeline.Options()
            options.cropToNonZero = cropToNonZero
            options.landmarkRefinement = landmarkRefinement
            let pipeline = try InferencePipeline(package: package, options: options)
            var volumes: [Volume] = []
            for path in inputs { volumes.append(try NIfTI.read(contentsOf: path)) }
            if let rawOutput {
                let prepared = try pipeline.prepare(volumes)
                let raw = pipeline.network.forward(prepared.tensor)
                do {
                    try SafeTensorsFile.write(["input": prepared.tensor, "output": raw], to: rawOutput)
                } catch {
                    printError("mambanode infer: \(error)")
                    throw ExitCode(1)
                }
            }
            let result = try pipeline.run(volumes)
            if case .segmentation(let labels) = result.output, let output {
                try NIfTI.write(labels, to: output, description: "MambaNode \(package.manifest.name)")
            }
            print(try InferenceReport(result, manifest: package.manifest, output: output).jsonText())
        } catch let error as ModelPackageError {
            printError("mambanode infer: \(error)")
            throw ExitCode(1)
        } catch let error as InferenceError {
            printError("mambanode infer: \(error)")
            throw ExitCode(1)
        } catch let error as VolumeError {
            printError("mambanode infer: \(error)")
            throw ExitCode(1)
        }
    }
}

/// What `infer` prints: the task's result, the grid and the step timings. No patient data.
struct InferenceReport: Encodable {
    struct Landmark: Encodable {
        /// Patient coordinates, LPS mm.
        var lps: [Double]
        /// Nearest source voxel (i, j, k).
        var voxel: [Int]
        var peak: Float
    }

    var model: String
    var task: String
    var output: String?
    /// Voxels per label value (segmentation).
    var voxelsPerLabel: [String: Int]?
    var landmarks: [String: Landmark]?
    var probability: Double?
    /// The network's logit before calibration.
    var logit: Double?
    var positive: Bool?
    var finding: String?
    /// Size (D, H, W) of the tensor the network saw.
    var networkGrid: [Int]
    /// Seconds per pipeline step.
    var seconds: [String: Double]

    // Spelled out: a key strategy would also rewrite the landmark names used as dictionary keys.
    enum CodingKeys: String, CodingKey {
        case model, task, output, landmarks, probability, logit, positive, finding, seconds
        case voxelsPerLabel = "voxels_per_label", networkGrid = "network_grid"
    }

    init(_ result: InferenceResult, manifest: ModelManifest, output: String?) {
        model = manifest.name
        task = manifest.task.rawValue
        let size = result.record.padded.size
        networkGrid = [size.z, size.y, size.x]
        seconds = Dictionary(result.timings.map { ($0.step.rawValue, $0.seconds) }, uniquingKeysWith: +)
        switch result.output {
        case .segmentation(let labels):
            self.output = output
            var counts: [String: Int] = [:]
            for v in labels.voxels { counts[String(Int(v)), default: 0] += 1 }
            voxelsPerLabel = counts
        case .landmarks(let found):
            landmarks = found.mapValues {
                Landmark(
                    lps: [$0.patient.x, $0.patient.y, $0.patient.z], voxel: [$0.voxel.x, $0.voxel.y, $0.voxel.z],
                    peak: $0.peak)
            }
        case .classification(let score):
            probability = score.probability
            logit = score.logit
            positive = score.positive
            finding =
                score.positive ? manifest.classification?.positive.meaning : manifest.classification?.negative.meaning
        }
    }

    func jsonText() throws -> String {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.prettyPrinted, .sortedKeys]
        return String(decoding: try encoder.encode(self), as: UTF8.self)
    }
}

extension LandmarkRefinement: ExpressibleByArgument {}
