import ArgumentParser
import Foundation
import ModelPackage
import NNMamba
import Pipeline

/// `mambanode models verify DIR`: checks every manifest field and the weights
/// against the declared network, runs one forward pass on zeros, prints a summary. Exits 1 naming
/// the field or weight key on any problem.
public struct ModelsVerifyCommand: ParsableCommand {
    public init() {}

    public static let configuration = CommandConfiguration(
        commandName: "verify",
        abstract: "Check a model package: manifest, weights, one forward pass.",
        discussion: "Dense networks run one patch of zeros; the encoder a 16³ volume of zeros."
    )

    @Argument(help: "Model package folder.")
    var directory: String

    public func run() throws {
        do {
            let package = try ModelPackage(directory: directory)
            let loaded = try LoadedNetwork(package: package)
            let m = package.manifest
            let dense = m.network.architecture == .nnMambaSeg
            let input = Tensor(zeros: [1, m.network.inChannels] + (dense ? m.patchSize : [16, 16, 16]))
            let start = ContinuousClock.now
            let out = loaded.network.forward(input)
            let elapsed = start.duration(to: .now)
            let expected = dense ? [1, m.network.outputs] + m.patchSize : [1, m.network.outputs]
            guard out.shape == expected else {
                throw InferenceError(
                    .network, field: "network.outputs",
                    "forward pass gave \(out.shape), expected \(expected)")
            }
            guard (0..<out.count).allSatisfy({ out[$0].isFinite }) else {
                throw InferenceError(.network, field: "weights.safetensors", "forward pass on zeros is not finite")
            }
            print(Self.summary(package, parameters: loaded.parameterCount))
            let seconds = Double(elapsed.components.seconds) + Double(elapsed.components.attoseconds) * 1e-18
            print("forward pass: \(input.shape) -> \(out.shape) in " + String(format: "%.2f s", seconds))
            print("OK")
        } catch let error as ModelPackageError {
            printError("mambanode models verify: \(error)")
            throw ExitCode(1)
        } catch let error as InferenceError {
            printError("mambanode models verify: \(directory): \(error)")
            throw ExitCode(1)
        }
    }

    static func summary(_ package: ModelPackage, parameters: Int) -> String {
        let m = package.manifest, n = m.network
        func code(_ c: ModelManifest.Code) -> String { "(\(c.code), \(c.scheme), \"\(c.meaning)\")" }
        func number(_ x: Double) -> String { x == x.rounded() ? String(Int(x)) : String(x) }
        var lines = [
            "model: \(m.name) (\(m.format))",
            "task: \(m.task.rawValue)",
            "network: \(n.architecture.rawValue) in_channels \(n.inChannels), channels \(n.channels), "
                + "blocks \(n.blocks), outputs \(n.outputs)" + (n.dState.map { ", d_state \($0)" } ?? ""),
            "parameters: \(parameters)",
            "target spacing: \(m.targetSpacing.map(number).joined(separator: " × ")) mm; "
                + "patch \(m.patchSize.map(String.init).joined(separator: " × ")); mirror axes \(m.mirrorAxes ?? [])"
        ]
        let layout = m.layout
        lines.append(
            "input layout: \(layout.orientation.rawValue), \(layout.array.rawValue)"
                + (m.inputLayout == nil ? " (the default of \(ModelManifest.firstFormat))" : ""))
        var recipe = "preprocessing: \(m.recipe.rawValue)"
        if let forward = m.preprocessing?.transposeForward { recipe += ", transpose_forward \(forward)" }
        if let grid = m.preprocessing?.grid { recipe += ", grid \(grid.map(String.init).joined(separator: " × "))" }
        lines.append(recipe)
        for (i, input) in m.inputs.enumerated() {
            let z = input.normalization
            var text =
                "input \(i): \(input.name)" + (input.modality.map { " (\($0))" } ?? "")
                + ", normalization \(z.kind.rawValue)"
            if let clip = z.clip { text += " clip [\(clip.map(number).joined(separator: ", "))]" }
            if let mean = z.mean, let std = z.std { text += " mean \(number(mean)) std \(number(std))" }
            if z.nonzeroMask == true { text += " over non-zero voxels" }
            lines.append(text)
        }
        for label in m.labels ?? [] {
            lines.append("label \(label.value): \(label.name) \(code(label.type))")
        }
        for landmark in m.landmarks ?? [] {
            lines.append("landmark channel \(landmark.channel): \(landmark.name)")
        }
        for distance in m.distances ?? [] {
            lines.append("distance: \(distance.from) – \(distance.to)" + (distance.name.map { " (\($0))" } ?? ""))
        }
        if let c = m.classification {
            lines.append(
                "classification: \(code(c.concept)) positive \(code(c.positive)), "
                    + "negative \(code(c.negative)), threshold \(c.threshold)")
            if let calibration = c.calibration {
                lines.append(
                    "calibration: \(calibration.method.rawValue) T = \(number(calibration.temperature))"
                        + (calibration.fittedOn.map { ", fitted on \($0)" } ?? ""))
            } else {
                lines.append("calibration: none (the probability is the sigmoid of the logit)")
            }
        }
        lines.append("algorithm: \(m.algorithm.name) \(m.algorithm.version)")
        return lines.joined(separator: "\n")
    }
}
