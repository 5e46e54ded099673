import ModelPackage
import NNMamba

/// What the pipeline runs: an nnMamba network, or a stand-in that tests inject to check the
/// adapter's geometry without trained weights.
///
/// Dense networks (segmentation, landmarks) map x: [1, C_in, D, H, W] -> [1, K, D, H, W] scores;
/// encoders (classification) map x: [1, C_in, D, H, W] -> [1, K] logits.
public protocol InferenceNetwork: Sendable {
    func forward(_ x: Tensor) -> Tensor
}

extension NNMambaSeg: InferenceNetwork {
    public func forward(_ x: Tensor) -> Tensor { self(x) }
}

extension NNMambaEncoder: InferenceNetwork {
    public func forward(_ x: Tensor) -> Tensor { self(x) }
}

/// A network loaded from a model package, with what `models verify` reports about it.
public struct LoadedNetwork: Sendable {
    public let network: any InferenceNetwork
    /// Trainable parameters: float tensors of the state_dict without BatchNorm running
    /// statistics, counting a Mamba layer shared by several blocks once (as PyTorch's
    /// `parameters()` does).
    public let parameterCount: Int

    /// Builds the network the manifest declares (docs/model-package.md) from `weights.safetensors`.
    ///
    /// A weight file that does not match the declared network throws `.loading` naming the key
    /// (missing, unexpected, mis-shaped; the engine's loader finds these); a configuration the
    /// engine or the pipeline cannot use names the manifest field (`network`, `network.outputs`).
    public init(package: ModelPackage) throws(InferenceError) {
        let declared = package.manifest.network
        if package.manifest.task == .classification && !(1...2).contains(declared.outputs) {
            throw InferenceError(
                .loading, field: "network.outputs",
                "classification reads one logit (sigmoid) or two (softmax), not \(declared.outputs)")
        }
        do {
            let weights = try Weights(path: package.weightsPath)
            switch declared.architecture {
            case .nnMambaSeg:
                network = try NNMambaSeg(
                    weights: weights,
                    configuration: .init(
                        inChannels: declared.inChannels, channels: declared.channels, blocks: declared.blocks,
                        classes: declared.outputs, dState: declared.dState ?? 16))
            case .nnMambaEncoder:
                network = try NNMambaEncoder(
                    weights: weights,
                    configuration: .init(
                        inChannels: declared.inChannels, channels: declared.channels, blocks: declared.blocks,
                        classes: declared.outputs, dState: declared.dState ?? 8))
            }
            parameterCount = Self.parameterCount(weights.file)
        } catch let error as NNMambaError {
            let field = error.code == .invalidConfiguration && error.key == nil ? "network" : error.key
            throw InferenceError(.loading, field: field ?? "weights.safetensors", error.description)
        } catch {
            throw InferenceError(.loading, field: "weights.safetensors", "\(error)")
        }
    }

    static func parameterCount(_ file: SafeTensorsFile) -> Int {
        var seen = Set<String>()
        var count = 0
        for (name, entry) in file.entries {
            let key = name.hasPrefix("module.") ? String(name.dropFirst("module.".count)) : name
            guard !Weights.isIgnored(key), !key.hasSuffix("running_mean"), !key.hasSuffix("running_var"),
                entry.dtype == "F32" || entry.dtype == "F64"
            else { continue }
            // `layerK.N.mamba_layer.*` are copies of one shared module (docs/nnmamba-architecture.md §2.3).
            let parts = key.split(separator: ".")
            let shared =
                parts.count > 3 && parts[0].hasPrefix("layer") && parts[2] == "mamba_layer"
                ? ([parts[0]] + parts[2...]).joined(separator: ".") : key
            if seen.insert(shared).inserted { count += entry.shape.reduce(1, *) }
        }
        return count
    }
}
