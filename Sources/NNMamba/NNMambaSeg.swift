/// nnMambaSeg (root `nnMamba.py`, §3): the segmentation and landmark network.
///
/// x: [N, in_ch, D, H, W] (each of D, H, W divisible by 16) -> [N, classes, D, H, W], values ≥ 0
/// (the last layer ends in BN + ReLU): class scores for segmentation, heat-maps for landmarks.
///
/// ```swift
/// let weights = try Weights(path: "model.safetensors")
/// let net = try NNMambaSeg(weights: weights, configuration: .init(inChannels: 4, channels: 32,
///                                                                  blocks: 3, classes: 4))
/// let scores = net(input)
/// ```
public struct NNMambaSeg: Sendable {
    /// Constructor arguments of the PyTorch class.
    public struct Configuration: Sendable, Equatable {
        public var inChannels: Int
        /// Base width c (default 32).
        public var channels: Int
        /// Residual blocks per encoder stage (default 3).
        public var blocks: Int
        /// Output channels (classes or landmarks).
        public var classes: Int
        /// d_state of the Mamba layers (16 upstream).
        public var dState: Int

        public init(inChannels: Int = 1, channels: Int = 32, blocks: Int = 3, classes: Int = 6, dState: Int = 16) {
            self.inChannels = inChannels
            self.channels = channels
            self.blocks = blocks
            self.classes = classes
            self.dState = dState
        }

        /// The configuration implied by a checkpoint's shapes (in_conv, conv8, layer1 block count,
        /// A_log); throws `.missingKey` when those keys are absent.
        public static func inferred(from weights: Weights) throws -> Configuration {
            guard let stem = weights.shape(of: "in_conv.conv.0.weight"), stem.count == 5 else {
                throw NNMambaError(.missingKey, key: "in_conv.conv.0.weight", "cannot infer the configuration")
            }
            guard let head = weights.shape(of: "conv8.conv.3.weight"), head.count == 5 else {
                throw NNMambaError(.missingKey, key: "conv8.conv.3.weight", "cannot infer the configuration")
            }
            var blocks = 1
            while weights.contains("layer1.\(blocks).conv1.weight") { blocks += 1 }
            let aLog = (1..<max(blocks, 2)).lazy.compactMap {
                weights.shape(of: "layer1.\($0).mamba_layer.mamba.A_log")
            }.first
            return Configuration(
                inChannels: stem[1], channels: stem[0], blocks: blocks, classes: head[0],
                dState: aLog?.last ?? 16)
        }
    }

    public let configuration: Configuration
    /// The MambaLayer design found in the weights (`.css` or `.nnUNet`).
    public let flavour: MambaLayer.Flavour
    let inConv: DoubleConv
    let att1: SkipGate, att2: SkipGate, att3: SkipGate
    let layer1: ResidualStage, layer2: ResidualStage, layer3: ResidualStage
    let conv5: DoubleConv, conv6: DoubleConv, conv7: DoubleConv, conv8: DoubleConv

    /// Builds the network from a state_dict. Throws `NNMambaError` naming the key (and both
    /// shapes) for a missing, unexpected or mis-shaped tensor.
    public init(weights: Weights, configuration: Configuration) throws {
        self.configuration = configuration
        let c = configuration.channels, s = configuration.dState, blocks = configuration.blocks
        guard c >= 16, blocks >= 2, configuration.inChannels >= 1, configuration.classes >= 1 else {
            throw NNMambaError(
                .invalidConfiguration,
                "channels \(c) (needs ≥ 16 for the skip gates), blocks \(blocks) (needs ≥ 2 for Mamba)")
        }
        let root = WeightScope(weights)
        inConv = try DoubleConv(root.child("in_conv"), in: configuration.inChannels, out: c, stride: 2)
        att1 = try SkipGate(root.child("att1"), channels: c)
        att2 = try SkipGate(root.child("att2"), channels: 2 * c)
        att3 = try SkipGate(root.child("att3"), channels: 4 * c)
        layer1 = try ResidualStage(
            root.child("layer1"), inPlanes: c, planes: 2 * c, blocks: blocks, stride: 2,
            mambaDState: s)
        layer2 = try ResidualStage(
            root.child("layer2"), inPlanes: 2 * c, planes: 4 * c, blocks: blocks, stride: 2,
            mambaDState: s)
        layer3 = try ResidualStage(
            root.child("layer3"), inPlanes: 4 * c, planes: 8 * c, blocks: blocks, stride: 2,
            mambaDState: s)
        // Each stage detects its flavour from its own keys (whichever block index holds them).
        let flavours = [layer1, layer2, layer3].compactMap { $0.mambaLayer?.flavour }
        guard let flavour = flavours.first, flavours.allSatisfy({ $0 == flavour }) else {
            throw NNMambaError(
                .invalidConfiguration, key: "layer1.1.mamba_layer",
                "the stages mix MambaLayer designs \(flavours.map(\.rawValue))")
        }
        self.flavour = flavour
        conv5 = try DoubleConv(root.child("conv5"), in: 12 * c, out: 4 * c)
        conv6 = try DoubleConv(root.child("conv6"), in: 6 * c, out: 2 * c)
        conv7 = try DoubleConv(root.child("conv7"), in: 3 * c, out: c)
        conv8 = try DoubleConv(root.child("conv8"), in: c, out: configuration.classes)
        try weights.finish()
    }

    /// x: [N, in_ch, D, H, W] -> [N, classes, D, H, W]. `trace` records the module outputs named
    /// in the seg fixture (`in_conv`, `att1`…, `layer1`…, `conv5`, `conv6`, `conv8.conv.4`).
    public func callAsFunction(_ x: Tensor, trace: Trace? = nil) -> Tensor {
        BufferPool.reusing { forward(x, trace: trace) }
    }

    private func forward(_ x: Tensor, trace: Trace?) -> Tensor {
        precondition(x.rank == 5 && x.shape[1] == configuration.inChannels, "nnMambaSeg input \(x.shape)")
        precondition(x.shape[2...].allSatisfy { $0 % 16 == 0 }, "spatial size \(x.shape) not divisible by 16")
        let c1 = inConv(x)
        trace?.record("in_conv", c1)
        let skip1 = gated(c1, att1, "att1", trace)
        var c2: Tensor? = layer1(c1)
        trace?.record("layer1", c2!)
        let skip2 = gated(c2!, att2, "att2", trace)
        var c3: Tensor? = layer2(c2!)
        c2 = nil
        trace?.record("layer2", c3!)
        let skip3 = gated(c3!, att3, "att3", trace)
        let c4 = layer3(c3!)
        c3 = nil
        trace?.record("layer3", c4)
        let c5 = conv5([upsampleTrilinear2x(c4), skip3])
        trace?.record("conv5", c5)
        let c6 = conv6([upsampleTrilinear2x(c5), skip2])
        trace?.record("conv6", c6)
        let c7 = conv7([upsampleTrilinear2x(c6), skip1])
        trace?.record("conv7", c7)
        let out = conv8([upsampleTrilinear2x(c7)], finalReLU: trace == nil)
        if let trace {
            trace.record("conv8.conv.4", out)
            out.reluInPlace()
        }
        return out
    }

    /// The skip tensor times its gate; records the gate as [N, C, 1].
    private func gated(_ skip: Tensor, _ gate: SkipGate, _ name: String, _ trace: Trace?) -> Tensor {
        let g = gate.gate(for: skip)
        trace?.record(name, g.reshaped([g.shape[0], g.shape[1], 1]))
        return scaleChannels(skip, by: g)
    }
}
