/// nnMambaEncoder (`nnMamba4cls.py`, §4): the classification network.
///
/// x: [N, in_ch, D, H, W] (any size ≥ 1 per axis) -> [N, classes] logits.
public struct NNMambaEncoder: Sendable {
    /// Constructor arguments of the PyTorch class.
    public struct Configuration: Sendable, Equatable {
        public var inChannels: Int
        public var channels: Int
        public var blocks: Int
        public var classes: Int
        /// d_state of the stem Mamba (8 upstream).
        public var dState: Int

        public init(inChannels: Int = 1, channels: Int = 32, blocks: Int = 3, classes: Int = 1, dState: Int = 8) {
            self.inChannels = inChannels
            self.channels = channels
            self.blocks = blocks
            self.classes = classes
            self.dState = dState
        }
    }

    public let configuration: Configuration
    let inConv: DoubleConv
    let stem: MambaLayer
    let layer1: ResidualStage, layer2: ResidualStage, layer3: ResidualStage
    let mlp0: Linear, mlp3: Linear

    public init(weights: Weights, configuration: Configuration) throws {
        self.configuration = configuration
        let c = configuration.channels, blocks = configuration.blocks
        guard c >= 1, blocks >= 1, configuration.inChannels >= 1, configuration.classes >= 1 else {
            throw NNMambaError(.invalidConfiguration, "channels \(c), blocks \(blocks)")
        }
        let root = WeightScope(weights)
        inConv = try DoubleConv(root.child("in_conv"), in: configuration.inChannels, out: c, stride: 2)
        stem = try MambaLayer(
            root.child("mamba_layer_stem"), channels: c, dState: configuration.dState,
            flavour: .single)
        layer1 = try ResidualStage(
            root.child("layer1"), inPlanes: c, planes: 2 * c, blocks: blocks, stride: 2,
            mambaDState: nil)
        layer2 = try ResidualStage(
            root.child("layer2"), inPlanes: 2 * c, planes: 4 * c, blocks: blocks, stride: 2,
            mambaDState: nil)
        layer3 = try ResidualStage(
            root.child("layer3"), inPlanes: 4 * c, planes: 8 * c, blocks: blocks, stride: 2,
            mambaDState: nil)
        mlp0 = try root.linear("mlp.0", in: 14 * c, out: c)
        mlp3 = try root.linear("mlp.3", in: c, out: configuration.classes)
        try weights.finish()
    }

    /// x: [N, in_ch, D, H, W] -> [N, classes]. `trace` records `in_conv`, `mamba_layer_stem`,
    /// `layer1`–`layer3` and `mlp.0` (before its ReLU).
    public func callAsFunction(_ x: Tensor, trace: Trace? = nil) -> Tensor {
        BufferPool.reusing { forward(x, trace: trace) }
    }

    private func forward(_ x: Tensor, trace: Trace?) -> Tensor {
        precondition(x.rank == 5 && x.shape[1] == configuration.inChannels, "nnMambaEncoder input \(x.shape)")
        let c1 = inConv(x)
        trace?.record("in_conv", c1)
        let m = stem(c1)
        trace?.record("mamba_layer_stem", m)
        c1.addInPlace(m)
        let c2 = layer1(c1)
        trace?.record("layer1", c2)
        let c3 = layer2(c2)
        trace?.record("layer2", c3)
        let c4 = layer3(c3)
        trace?.record("layer3", c4)
        let pooled = [globalAveragePool(c2), globalAveragePool(c3), globalAveragePool(c4)]
        let n = x.shape[0], widths = pooled.map { $0.shape[1] }
        let h = Tensor(zeros: [n, widths.reduce(0, +)])
        for b in 0..<n {
            var offset = b * h.shape[1]
            for (p, w) in zip(pooled, widths) {
                for i in 0..<w { h[offset + i] = p[b * w + i] }
                offset += w
            }
        }
        let hidden = mlp0(h)
        trace?.record("mlp.0", hidden)
        hidden.reluInPlace()
        return mlp3(hidden)
    }
}
