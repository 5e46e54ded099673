/// ResNet basic block of nnMamba (§2.2), convs without bias, BN folded:
/// out = ReLU(bn2(conv2(ReLU(bn1(conv1(x))))) [+ MambaLayer(x)] + identity(x)).
///
/// x: [N, C_in, D, H, W] -> [N, C_out, ⌈D/s⌉, ⌈H/s⌉, ⌈W/s⌉].
public struct BasicBlock: Sendable {
    let conv1: Conv3D, conv2: Conv3D
    /// 1³ conv (stride s) + BN, when the shape changes.
    let downsample: Conv3D?
    /// Applied to the block input; only in stride-1 blocks (shared across a stage).
    let mambaLayer: MambaLayer?

    init(
        _ scope: WeightScope, inPlanes: Int, planes: Int, stride: Int, downsample: Bool,
        mambaLayer: MambaLayer?
    ) throws {
        conv1 = try scope.conv("conv1", in: inPlanes, out: planes, kernel: 3, stride: stride, bias: false)
            .folding(scope.batchNorm("bn1", channels: planes))
        conv2 = try scope.conv("conv2", in: planes, out: planes, kernel: 3, stride: 1, bias: false)
            .folding(scope.batchNorm("bn2", channels: planes))
        if downsample {
            self.downsample = try scope.conv(
                "downsample.0", in: inPlanes, out: planes, kernel: 1,
                stride: stride, bias: false
            )
            .folding(scope.batchNorm("downsample.1", channels: planes))
        } else {
            self.downsample = nil
        }
        precondition(mambaLayer == nil || (stride == 1 && inPlanes == planes), "Mamba in a reshaping block")
        self.mambaLayer = mambaLayer
    }

    public func callAsFunction(_ x: Tensor) -> Tensor {
        let t = conv2(conv1(x, relu: true))
        if let mambaLayer { t.addInPlace(mambaLayer(x)) }
        t.addReLUInPlace(downsample.map { $0(x) } ?? x)
        return t
    }
}

/// A residual stage `make_res_layer` (§2.3): block 0 changes width/stride and has a downsample
/// branch; blocks 1… share one MambaLayer (when the stage has one).
///
/// x: [N, C_in, D, H, W] -> [N, planes, ⌈D/s⌉, ⌈H/s⌉, ⌈W/s⌉].
public struct ResidualStage: Sendable {
    public let blocks: [BasicBlock]
    public let mambaLayer: MambaLayer?

    /// Reads `prefix.0.*` … `prefix.(blocks−1).*`. With `mambaDState`, the stage's shared
    /// MambaLayer is read from the first block index ≥ 1 that has it; the copies under the other
    /// indices are checked equal. Its flavour comes from the keys unless `flavour` is given.
    public init(
        _ scope: WeightScope, inPlanes: Int, planes: Int, blocks: Int, stride: Int,
        mambaDState: Int?, flavour: MambaLayer.Flavour? = nil
    ) throws {
        precondition(blocks >= 1, "stage with \(blocks) blocks")
        var mamba: MambaLayer? = nil
        if let dState = mambaDState, blocks > 1 {
            let users = (1..<blocks).map { "\($0).mamba_layer" }
            let owner = users.first { scope.child($0).contains("nin.weight") } ?? users[0]
            let shared = WeightScope(
                scope.weights, scope.child(owner).prefix,
                duplicates: users.filter { $0 != owner }.map { scope.child($0).prefix })
            mamba = try MambaLayer(
                shared, channels: planes, dState: dState,
                flavour: flavour ?? MambaLayer.detectFlavour(shared))
        }
        mambaLayer = mamba
        var list: [BasicBlock] = []
        for i in 0..<blocks {
            list.append(
                try BasicBlock(
                    scope.child("\(i)"), inPlanes: i == 0 ? inPlanes : planes,
                    planes: planes, stride: i == 0 ? stride : 1, downsample: i == 0,
                    mambaLayer: i == 0 ? nil : mamba))
        }
        self.blocks = list
    }

    /// `trace` records each block's output under "0", "1", … (the res_layer fixture's names).
    public func callAsFunction(_ x: Tensor, trace: Trace? = nil) -> Tensor {
        var t = x
        for (i, block) in blocks.enumerated() {
            t = block(t)
            trace?.record("\(i)", t)
        }
        return t
    }
}
