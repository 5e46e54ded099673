/// A fully connected layer y = W·x + b (PyTorch `nn.Linear`).
///
/// weight: [out, in]; bias: [out].
public struct Linear: Sendable {
    public let weight: Tensor
    public let bias: Tensor

    public var inFeatures: Int { weight.shape[1] }
    public var outFeatures: Int { weight.shape[0] }

    public init(weight: Tensor, bias: Tensor) {
        precondition(
            weight.rank == 2 && bias.shape == [weight.shape[0]],
            "linear \(weight.shape) bias \(bias.shape)")
        self.weight = weight
        self.bias = bias
    }

    /// x: [N, in] -> [N, out]. Accumulates in double precision (these layers are tiny).
    public func callAsFunction(_ x: Tensor) -> Tensor {
        precondition(x.rank == 2 && x.shape[1] == inFeatures, "linear \(weight.shape) on \(x.shape)")
        let n = x.shape[0]
        let y = Tensor(zeros: [n, outFeatures])
        for b in 0..<n {
            for o in 0..<outFeatures {
                var s = Double(bias[o])
                for i in 0..<inFeatures { s += Double(weight[o * inFeatures + i]) * Double(x[b * inFeatures + i]) }
                y[b * outFeatures + o] = Float(s)
            }
        }
        return y
    }
}
