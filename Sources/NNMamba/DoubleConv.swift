/// nnMamba's DoubleConv (§2.1): conv 3³ (stride s, bias) → BN → ReLU → conv 3³ (bias) → BN → ReLU,
/// BN folded. Keys `conv.0`, `conv.1`, `conv.3`, `conv.4`.
///
/// inputs (concatenated along C): [N, C_in, D, H, W] -> [N, C_out, ⌈D/s⌉, ⌈H/s⌉, ⌈W/s⌉].
public struct DoubleConv: Sendable {
    let first: Conv3D, second: Conv3D

    init(_ scope: WeightScope, in inChannels: Int, out outChannels: Int, stride: Int = 1) throws {
        first = try scope.conv("conv.0", in: inChannels, out: outChannels, kernel: 3, stride: stride, bias: true)
            .folding(scope.batchNorm("conv.1", channels: outChannels))
        second = try scope.conv("conv.3", in: outChannels, out: outChannels, kernel: 3, stride: 1, bias: true)
            .folding(scope.batchNorm("conv.4", channels: outChannels))
    }

    /// The channel-wise concatenation of `inputs` through both convs. With `finalReLU: false`
    /// the last ReLU is skipped (the output of `conv.4`, which the seg fixture records).
    public func callAsFunction(_ inputs: [Tensor], finalReLU: Bool = true) -> Tensor {
        second(first(inputs, relu: true), relu: finalReLU)
    }

    public func callAsFunction(_ x: Tensor) -> Tensor { self([x]) }
}

/// nnMamba's `Attentionlayer` (§2.8), an SE-style gate for a skip connection:
/// g = sigmoid(layer2(ReLU(layer1(mean_DHW(x))))), hidden width C/16.
public struct SkipGate: Sendable {
    let layer1: Linear, layer2: Linear

    init(_ scope: WeightScope, channels: Int) throws {
        let hidden = channels / 16
        layer1 = try scope.linear("layer1", in: channels, out: hidden)
        layer2 = try scope.linear("layer2", in: hidden, out: channels)
    }

    /// x: [N, C, D, H, W] -> gate [N, C], values in (0, 1).
    public func gate(for x: Tensor) -> Tensor {
        let h = layer1(globalAveragePool(x))
        h.reluInPlace()
        let g = layer2(h)
        g.sigmoidInPlace()
        return g
    }
}
