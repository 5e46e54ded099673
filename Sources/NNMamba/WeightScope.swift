/// A view of `Weights` under a key prefix, used by module initialisers (and by the golden fixture
/// runner, which builds single modules from a fixture's weights).
///
/// A scope may carry duplicate prefixes: the keys of a shared module that PyTorch lists once per
/// user (§2.3, e.g. `layer1.2.mamba_layer.*` repeating `layer1.1.mamba_layer.*`). `take` reads
/// the canonical key and checks every duplicate that is present for equality, so that duplicates
/// are accepted, verified and marked used; absent duplicates are fine (de-duplicating exporters).
public struct WeightScope {
    let weights: Weights
    let prefix: String
    var duplicatePrefixes: [String] = []

    public init(_ weights: Weights, _ prefix: String = "", duplicates: [String] = []) {
        self.weights = weights
        self.prefix = prefix
        self.duplicatePrefixes = duplicates
    }

    private static func join(_ a: String, _ b: String) -> String { a.isEmpty ? b : a + "." + b }

    /// The scope of a child module.
    func child(_ name: String) -> WeightScope {
        WeightScope(weights, Self.join(prefix, name), duplicates: duplicatePrefixes.map { Self.join($0, name) })
    }

    /// Full key of a tensor in this scope.
    func key(_ name: String) -> String { Self.join(prefix, name) }

    func contains(_ name: String) -> Bool { weights.contains(key(name)) }

    /// Reads tensor `name` with the given shape; checks present duplicates for equality.
    func take(_ name: String, shape: [Int]) throws -> Tensor {
        let t = try weights.take(key(name), shape: shape)
        for dup in duplicatePrefixes.map({ Self.join($0, name) }) where weights.contains(dup) {
            let u = try weights.take(dup, shape: shape)
            for i in 0..<t.count where t[i].bitPattern != u[i].bitPattern {
                throw NNMambaError(
                    .inconsistentDuplicate, key: dup, expectedShape: shape, actualShape: shape,
                    "shared tensor differs from '\(key(name))' at element \(i)")
            }
        }
        return t
    }

    /// A convolution `name.weight` [out, in, k, k, k] (+ `name.bias` [out] when `bias`).
    func conv(
        _ name: String, in inChannels: Int, out outChannels: Int, kernel: Int, stride: Int,
        bias: Bool
    ) throws -> Conv3D {
        let w = try take(name + ".weight", shape: [outChannels, inChannels, kernel, kernel, kernel])
        let b = bias ? try take(name + ".bias", shape: [outChannels]) : nil
        return Conv3D(weight: w, bias: b, stride: stride)
    }

    /// A BatchNorm3d `name.{weight,bias,running_mean,running_var}`.
    func batchNorm(_ name: String, channels: Int) throws -> BatchNorm {
        try BatchNorm(
            weight: take(name + ".weight", shape: [channels]),
            bias: take(name + ".bias", shape: [channels]),
            runningMean: take(name + ".running_mean", shape: [channels]),
            runningVar: take(name + ".running_var", shape: [channels]))
    }

    /// A Linear `name.weight` [out, in], `name.bias` [out].
    func linear(_ name: String, in inFeatures: Int, out outFeatures: Int) throws -> Linear {
        try Linear(
            weight: take(name + ".weight", shape: [outFeatures, inFeatures]),
            bias: take(name + ".bias", shape: [outFeatures]))
    }
}
