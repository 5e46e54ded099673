/// BatchNorm3d parameters for eval mode: y = (x − μ)/√(σ² + ε)·γ + β per channel.
///
/// The engine never runs it on its own: it is folded into the preceding convolution at load time
/// (`Conv3D.folding(_:)`).
public struct BatchNorm: Sendable {
    /// γ, β, μ, σ²: [C] each.
    public let weight: Tensor, bias: Tensor, runningMean: Tensor, runningVar: Tensor
    /// PyTorch's default.
    public let epsilon = 1e-5

    public var channels: Int { weight.count }

    public init(weight: Tensor, bias: Tensor, runningMean: Tensor, runningVar: Tensor) {
        precondition(
            [bias, runningMean, runningVar].allSatisfy { $0.shape == weight.shape },
            "BN parameter shapes differ")
        self.weight = weight
        self.bias = bias
        self.runningMean = runningMean
        self.runningVar = runningVar
    }
}
