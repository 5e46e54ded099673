/// nnMamba's MambaLayer: a 1³ conv + BN + ReLU, the Mamba block over the flattened volume, and
/// (except in the nnU-Net flavour) a residual and a second 1³ conv + BN + ReLU.
///
/// x: [N, C, D, H, W] -> [N, C, D, H, W]. Tokens are the voxels in D, H, W order (W fastest).
public struct MambaLayer: Sendable {
    /// The three upstream designs (docs/nnmamba-architecture.md §2.5–2.7).
    public enum Flavour: String, Sendable {
        /// Root `nnMamba.py` (MICCSS): mean of four passes (plain, channel-flipped,
        /// token-flipped, both), + residual onto the activation, then nin2/norm2/ReLU.
        case css
        /// `nnMamba4cls.py`: one plain pass, + residual, then nin2/norm2/ReLU.
        case single
        /// `nnunet/network_architecture/nnMamba.py`: one plain pass, no residual, no nin2/norm2.
        case nnUNet
    }

    public let flavour: Flavour
    public let channels: Int
    /// nin + norm, folded.
    let nin: Conv3D
    /// nin2 + norm2, folded (nil in the nnU-Net flavour).
    let nin2: Conv3D?
    public let mamba: MambaBlock

    /// Reads `nin.weight`, `norm.*`, `mamba.*` and, unless `.nnUNet`, `nin2.weight`, `norm2.*`.
    public init(_ scope: WeightScope, channels: Int, dState: Int, flavour: Flavour) throws {
        self.flavour = flavour
        self.channels = channels
        nin = try scope.conv("nin", in: channels, out: channels, kernel: 1, stride: 1, bias: false)
            .folding(scope.batchNorm("norm", channels: channels))
        if flavour != .nnUNet {
            nin2 = try scope.conv("nin2", in: channels, out: channels, kernel: 1, stride: 1, bias: false)
                .folding(scope.batchNorm("norm2", channels: channels))
        } else {
            nin2 = nil
        }
        mamba = try MambaBlock(scope.child("mamba"), dModel: channels, dState: dState)
    }

    /// The flavour a checkpoint uses, from its keys: `nin2` present → CSS (root `nnMamba.py`),
    /// absent → nnU-Net variant (§1, "Engine consequence").
    public static func detectFlavour(_ scope: WeightScope) -> Flavour {
        scope.contains("nin2.weight") ? .css : .nnUNet
    }

    /// The passes (flip channels, reverse tokens) of this flavour.
    private var passes: [(flipChannels: Bool, reverseTokens: Bool, name: String)] {
        switch flavour {
        case .css:
            return [
                (false, false, "mamba_plain"), (true, false, "mamba_flip_channels"),
                (false, true, "mamba_flip_tokens"), (true, true, "mamba_flip_both")
            ]
        case .single, .nnUNet:
            return [(false, false, "mamba_plain")]
        }
    }

    /// x: [N, C, D, H, W] -> [N, C, D, H, W]. `trace` records `act_x`, `x_flat`, the passes and
    /// `css_mean` (the names of the css_mamba_layer fixture) for batch item 0.
    public func callAsFunction(_ x: Tensor, trace: Trace? = nil) -> Tensor {
        precondition(x.rank == 5 && x.shape[1] == channels, "MambaLayer(\(channels)) on \(x.shape)")
        let act = nin(x, relu: true)
        let (n, l, c) = (x.shape[0], x.voxelCount, channels)
        let mixed = Tensor(zeros: x.shape)
        let passes = self.passes
        let alpha = 1 / Float(passes.count)
        if let trace {
            trace.record("act_x", act)
            trace.record("x_flat", tokenMajor(act.channel(0, 0), channels: c, length: l))
        }
        for b in 0..<n {
            let input = UnsafePointer(act.channel(b, 0))
            let output = mixed.channel(b, 0)
            for (i, pass) in passes.enumerated() {
                if let trace, b == 0 {
                    // Keep each pass separate so it can be recorded, then accumulate.
                    let single = Tensor(zeros: [c, l])
                    mamba.run(
                        input: input, output: single.data, length: l, layout: .channelMajor,
                        flipChannels: pass.flipChannels, reverseTokens: pass.reverseTokens)
                    trace.record(pass.name, tokenMajor(single.data, channels: c, length: l))
                    for j in 0..<c * l { output[j] += alpha * single[j] }
                } else {
                    mamba.run(
                        input: input, output: output, length: l, layout: .channelMajor,
                        flipChannels: pass.flipChannels, reverseTokens: pass.reverseTokens,
                        alpha: alpha, beta: i == 0 ? 0 : 1)
                }
            }
        }
        if let trace { trace.record("css_mean", tokenMajor(mixed.channel(0, 0), channels: c, length: l)) }
        guard let nin2 else { return mixed }
        mixed.addInPlace(act)
        return nin2(mixed, relu: true)
    }

    /// [C, L] channel-major -> [1, L, C] token-major copy (for traces).
    private func tokenMajor(_ p: UnsafePointer<Float>, channels c: Int, length l: Int) -> Tensor {
        let t = Tensor(zeros: [1, l, c])
        transpose(p, rows: c, cols: l, srcStride: l, into: t.data, dstStride: c)
        return t
    }
}
