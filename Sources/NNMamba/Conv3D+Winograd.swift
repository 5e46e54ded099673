import CNNKernels
import COpenBLAS
import Synchronization

/// When a convolution whose shape allows it runs as Winograd F(2×2×2, 3×3×3).
public enum WinogradUse: Sendable, Equatable {
    /// On outputs of at least `Conv3D.winogradMinimumTiles` tiles (the default).
    case whenWorthIt
    /// Always (tests of the Winograd path on small volumes).
    case always
    /// Never: im2col + GEMM (tests of that path).
    case never
}

/// A convolution's Winograd weight [64, C_out, C_in], made on the first call that needs it, so
/// that a network holds the transform (64/27 of the weight) only of the layers that run at a
/// size where Winograd pays. Shared by the threads and jobs that run the network.
final class WinogradWeight: Sendable {
    private let made = Mutex<Tensor?>(nil)

    /// Whether the transform has been made (tests).
    var isMade: Bool { made.withLock { $0 != nil } }

    func tensor(making make: () -> Tensor) -> Tensor {
        made.withLock { made in
            if let made { return made }
            let u = make()
            made = u
            return u
        }
    }
}

/// 3³ stride-1 convolutions as Winograd F(2×2×2, 3×3×3) (CNNKernels/winograd3d.c): for each of
/// the 64 frequencies one GEMM [C_out, C_in]·[C_in, tiles], 64 multiply-adds per 2³ outputs and
/// input channel where im2col + GEMM needs 216 (3.4× fewer), and no 27-fold im2col block.
///
/// The transforms add and subtract at most four values per axis, so the result stays within the
/// float32 tolerances of the golden fixtures (Tests/Fixtures/golden/nnmamba/README.md).
extension Conv3D {
    /// Tiles per block (at least one row of tiles). The transforms and the GEMMs are bound by
    /// memory traffic: the transformed input [64, C_in, tiles] is 8× the input it comes from, so
    /// it must stay in the L2/L3 cache between its transform and its GEMMs. `bench engine` at
    /// 128³ (this 2-core VM), with OpenBLAS for the products: 32 tiles 2.92 s, 64 tiles 2.88 s,
    /// 128 tiles 3.40 s, 256 tiles 3.03 s, 512 or more ~3.3 s; with the engine's own kernel,
    /// 64 and 128 tiles are within the noise of each other (2.45 and 2.54 s).
    static let winogradBlockTiles = 64

    /// Up to this many input channels the 64 products per block run on the engine's kernel
    /// (`mn_winograd3d_multiply`). Measured alone on one core: 32 × 96 × 64 tiles 55–62 GFLOP/s
    /// against OpenBLAS's 38–42, 64 × 64 53–59 against 42–45, 128 × 128 39 against 31–38; at
    /// 128 × 384 OpenBLAS is ahead (47 against 44).
    static let winogradOwnKernelInputs = 128

    /// Winograd is possible for 3³ stride-1 convolutions with more than 8 output channels (fewer
    /// run on the direct kernel) and at most 384 × 128 channels (nnMambaSeg's conv5 at c = 32,
    /// whose im2col block of 10 368 rows does not fit any cache). The 256 × 256 convolutions of
    /// the deepest stage would add 84 MB of transformed weights for little gain.
    static func runsAsWinograd(kernel: Int, stride: Int, in inChannels: Int, out outChannels: Int) -> Bool {
        kernel == 3 && stride == 1 && outChannels > 8 && inChannels * outChannels <= 384 * 128
    }

    /// Outputs of fewer tiles (2³ voxels each) run on im2col + GEMM: a block spans most of the
    /// volume there, its GEMMs are short, and the transformed weight would stay in memory for a
    /// few milliseconds' gain. 256 tiles is a 16 × 8 × 16 output: nnMambaSeg's layer2 and conv5
    /// at a 128³ patch (19 against 45 ms for 128 → 128) but not its layer3 at 8³; the sample CT
    /// models' 48 × 64 × 64 patches (c = 16) not at their two deepest levels. The widest level of
    /// the seg golden fixture (Tests/Fixtures/golden/nnmamba/seg) is exactly this size, so the
    /// fixture checks a whole network with Winograd in it.
    static let winogradMinimumTiles = 256

    /// Floats per row of a block's V and M: its tiles rounded up to whole 16-lane chunks
    /// (CNNKernels' ld), so that the engine's product kernel runs on full vectors only.
    static func rowFloats(_ tiles: Int) -> Int { (tiles + 15) / 16 * 16 }

    static func worthWinograd(outputSize d: (Int, Int, Int)) -> Bool {
        (d.0 + 1) / 2 * ((d.1 + 1) / 2) * ((d.2 + 1) / 2) >= winogradMinimumTiles
    }

    /// U [64, C_out, C_in] of weight [C_out, C_in·27].
    static func winogradTransform(_ weight: Tensor, out: Int, in: Int) -> Tensor {
        let u = Tensor(uninitialized: [64, out, `in`])
        mn_winograd3d_weights(weight.data, Int64(out), Int64(`in`), u.data)
        return u
    }

    /// The convolution of batch item `b` of the channel-wise concatenation of `inputs` into
    /// `output` ([C_out, D, H, W]), with bias and optional ReLU.
    func forwardWinograd(
        _ inputs: [Tensor], batch b: Int, dims: (Int, Int, Int), u weight: Tensor, relu: Bool,
        output: UnsafeMutablePointer<Float>
    ) {
        let u = weight.data
        let (d, h, w) = dims
        let tileWidth = (w + 1) / 2
        let rows = (d + 1) / 2 * ((h + 1) / 2)
        let geometries = inputs.map { x in
            mn_conv3d_geometry(
                in_c: Int64(x.shape[1]), in_d: Int64(d), in_h: Int64(h), in_w: Int64(w),
                out_d: Int64(d), out_h: Int64(h), out_w: Int64(w), kernel: 3, stride: 1, pad: 1)
        }
        let sources = inputs.map { $0.channel(b, 0) }
        let (cin, cout, bias) = (inChannels, outChannels, self.bias.data)

        // V for tile rows [r0, r1) of every input, channels split over the threads or not.
        func transformInputs(_ r0: Int, _ r1: Int, into v: UnsafeMutablePointer<Float>, parallel: Bool) {
            var offset = 0
            for (i, x) in inputs.enumerated() {
                let channels = x.shape[1], rowOffset = offset
                withUnsafePointer(to: geometries[i]) { g in
                    let fill = { (c: Range<Int>) in
                        mn_winograd3d_input(
                            g, sources[i], Int64(r0), Int64(r1), Int64(c.lowerBound), Int64(c.upperBound),
                            v, Int64(cin), Int64(rowOffset))
                    }
                    if parallel { Parallel.forChunks(channels, fill) } else { fill(0..<channels) }
                }
                offset += channels
            }
        }
        // M[ξ] = U[ξ]·V[ξ] for the frequencies ξ in `frequencies`, on this thread: the engine's own
        // kernel up to 128 input channels, OpenBLAS beyond, where its packing pays for itself.
        func multiply(
            tiles: Int, _ v: UnsafePointer<Float>, _ m: UnsafeMutablePointer<Float>, _ frequencies: Range<Int>
        ) {
            if cin <= Self.winogradOwnKernelInputs {
                mn_winograd3d_multiply(
                    u, v, m, Int64(cout), Int64(cin), Int64(tiles), Int64(frequencies.lowerBound),
                    Int64(frequencies.upperBound))
                return
            }
            for xi in frequencies {
                cblas_sgemm(
                    CblasRowMajor, CblasNoTrans, CblasNoTrans, Int32(cout), Int32(tiles), Int32(cin), 1,
                    u + xi * cout * cin, Int32(cin), v + xi * cin * Self.rowFloats(tiles), Int32(Self.rowFloats(tiles)),
                    0, m + xi * cout * Self.rowFloats(tiles), Int32(Self.rowFloats(tiles)))
            }
        }
        func transformOutputs(_ r0: Int, _ r1: Int, _ m: UnsafePointer<Float>, _ channels: Range<Int>) {
            withUnsafePointer(to: geometries[0]) { g in
                mn_winograd3d_output(
                    g, m, Int64(r0), Int64(r1), Int64(channels.lowerBound), Int64(channels.upperBound),
                    Int64(cout), bias, relu ? 1 : 0, output)
            }
        }

        Gemm.prepare()
        let threads = Parallel.threadCount
        var rowsPerBlock = max(1, Self.winogradBlockTiles / tileWidth)
        var blocks = (rows + rowsPerBlock - 1) / rowsPerBlock
        if blocks < threads {
            // Too few tiles for a block per thread (the deeper levels): one block, each step
            // split over the threads.
            let tiles = rows * tileWidth, row = Self.rowFloats(tiles)
            let v = BufferPool.allocate(floats: 64 * cin * row)
            let m = BufferPool.allocate(floats: 64 * cout * row)
            defer {
                BufferPool.release(v, floats: 64 * cin * row)
                BufferPool.release(m, floats: 64 * cout * row)
            }
            transformInputs(0, rows, into: v, parallel: true)
            Parallel.forChunks(64) { multiply(tiles: tiles, v, m, $0) }
            Parallel.forChunks(cout) { transformOutputs(0, rows, m, $0) }
            return
        }
        // A block count that is a multiple of the threads, so that none idles; each thread runs
        // its blocks start to end (transform, 64 GEMMs, inverse transform) while they are in cache.
        blocks = (blocks + threads - 1) / threads * threads
        rowsPerBlock = (rows + blocks - 1) / blocks
        blocks = (rows + rowsPerBlock - 1) / rowsPerBlock
        let widest = Self.rowFloats(rowsPerBlock * tileWidth)
        Parallel.forChunks(blocks) { range in
            let v = BufferPool.allocate(floats: 64 * cin * widest)
            let m = BufferPool.allocate(floats: 64 * cout * widest)
            defer {
                BufferPool.release(v, floats: 64 * cin * widest)
                BufferPool.release(m, floats: 64 * cout * widest)
            }
            for block in range {
                let r0 = block * rowsPerBlock, r1 = min(rows, r0 + rowsPerBlock)
                guard r0 < r1 else { continue }
                transformInputs(r0, r1, into: v, parallel: false)
                multiply(tiles: (r1 - r0) * tileWidth, v, m, 0..<64)
                transformOutputs(r0, r1, m, 0..<cout)
            }
        }
    }
}
