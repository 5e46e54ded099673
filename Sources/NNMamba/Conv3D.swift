import CNNKernels
import COpenBLAS

/// A 3-D convolution with a cubic kernel (1 or 3), stride 1 or 2, zero padding kernel/2, a bias,
/// and optionally the eval-mode BatchNorm that follows it folded in.
///
/// weight: [C_out, C_in, k, k, k] (PyTorch layout), stored as the GEMM matrix [C_out, C_in·k³].
/// Output spatial size per axis: ceil(n / stride) (= (n + 2·pad − k)/stride + 1 for these k).
public struct Conv3D: Sendable {
    public let outChannels: Int
    public let inChannels: Int
    public let kernel: Int
    public let stride: Int
    /// [C_out, C_in·k³]
    let weight: Tensor
    /// [C_out]
    let bias: Tensor
    /// When this convolution runs as Winograd F(2×2×2, 3×3×3) (Conv3D+Winograd.swift).
    let winograd: WinogradUse
    /// The weight's Winograd transform, made on the first call that runs as Winograd; nil when
    /// the shape never does.
    let winogradWeight: WinogradWeight?

    /// weight: [C_out, C_in, k, k, k]; bias: [C_out] or nil (zero). `winograd` other than
    /// `.whenWorthIt` forces or forbids Winograd F(2×2×2, 3×3×3) where the shape allows it (tests).
    public init(weight: Tensor, bias: Tensor?, stride: Int, winograd: WinogradUse = .whenWorthIt) {
        precondition(
            weight.rank == 5 && weight.shape[2] == weight.shape[3]
                && weight.shape[3] == weight.shape[4], "conv weight \(weight.shape)")
        precondition(
            [1, 3].contains(weight.shape[2]) && [1, 2].contains(stride),
            "kernel \(weight.shape[2]) stride \(stride)")
        outChannels = weight.shape[0]
        inChannels = weight.shape[1]
        kernel = weight.shape[2]
        self.stride = stride
        self.weight = weight.reshaped([outChannels, inChannels * kernel * kernel * kernel])
        if let bias {
            precondition(bias.shape == [outChannels], "conv bias \(bias.shape)")
            self.bias = bias.copy()
        } else {
            self.bias = Tensor(zeros: [outChannels])
        }
        self.winograd = winograd
        winogradWeight =
            winograd != .never && Self.runsAsWinograd(kernel: kernel, stride: stride, in: inChannels, out: outChannels)
            ? WinogradWeight() : nil
    }

    /// This convolution followed by `bn` in eval mode, as one convolution:
    /// w' = w·γ/√(σ²+ε), b' = (b − μ)·γ/√(σ²+ε) + β (computed in double precision).
    public func folding(_ bn: BatchNorm) -> Conv3D {
        precondition(bn.channels == outChannels, "BN of \(bn.channels) after conv to \(outChannels)")
        let k = weight.shape[1]
        let w = Tensor(zeros: [outChannels, inChannels, kernel, kernel, kernel])
        let b = Tensor(zeros: [outChannels])
        for o in 0..<outChannels {
            let scale = Double(bn.weight[o]) / (Double(bn.runningVar[o]) + bn.epsilon).squareRoot()
            for i in 0..<k { w[o * k + i] = Float(Double(weight[o * k + i]) * scale) }
            b[o] = Float((Double(bias[o]) - Double(bn.runningMean[o])) * scale + Double(bn.bias[o]))
        }
        return Conv3D(weight: w, bias: b, stride: stride, winograd: winograd)
    }

    /// Output spatial size for an input size (per axis ceil(n / stride)).
    public func outputSize(_ d: Int, _ h: Int, _ w: Int) -> (Int, Int, Int) {
        ((d + stride - 1) / stride, (h + stride - 1) / stride, (w + stride - 1) / stride)
    }

    /// Convolution of the channel-wise concatenation of `inputs`, then bias, then optional ReLU.
    ///
    /// inputs: [N, C_i, D, H, W] each with Σ C_i = C_in -> [N, C_out, ⌈D/s⌉, ⌈H/s⌉, ⌈W/s⌉].
    /// The concatenation is never materialised: each input fills its own rows of the im2col tile.
    public func callAsFunction(_ inputs: [Tensor], relu: Bool = false) -> Tensor {
        Instrumentation.time(.convolution) { forward(inputs, relu: relu) }
    }

    private func forward(_ inputs: [Tensor], relu: Bool) -> Tensor {
        let first = inputs[0]
        precondition(
            inputs.allSatisfy {
                $0.rank == 5 && $0.shape[0] == first.shape[0]
                    && Array($0.shape[2...]) == Array(first.shape[2...])
            },
            "conv inputs \(inputs.map(\.shape))")
        precondition(
            inputs.reduce(0) { $0 + $1.shape[1] } == inChannels,
            "conv with \(inChannels) input channels given \(inputs.map(\.shape))")
        let (n, d, h, w) = (first.shape[0], first.shape[2], first.shape[3], first.shape[4])
        let (od, oh, ow) = outputSize(d, h, w)
        let out = Tensor(uninitialized: [n, outChannels, od, oh, ow]) // every voxel is written
        if usesDirectKernel(inputs) {
            for b in 0..<n { forwardDirect(inputs[0], batch: b, relu: relu, output: out.channel(b, 0)) }
            return out
        }
        if let winogradWeight, winograd == .always || Self.worthWinograd(outputSize: (od, oh, ow)) {
            let u = winogradWeight.tensor { Self.winogradTransform(weight, out: outChannels, in: inChannels) }
            for b in 0..<n {
                forwardWinograd(inputs, batch: b, dims: (d, h, w), u: u, relu: relu, output: out.channel(b, 0))
            }
            return out
        }
        for b in 0..<n {
            forwardOne(
                inputs, batch: b, dims: (d, h, w), outDims: (od, oh, ow), relu: relu,
                output: out.channel(b, 0))
        }
        return out
    }

    /// Single-input convenience. x: [N, C_in, D, H, W] -> [N, C_out, ⌈D/s⌉, ⌈H/s⌉, ⌈W/s⌉].
    public func callAsFunction(_ x: Tensor, relu: Bool = false) -> Tensor { self([x], relu: relu) }

    /// Few output channels at stride 1 (nnMambaSeg's last layer): the direct kernel beats a
    /// GEMM that would be memory-bound on its im2col block.
    private func usesDirectKernel(_ inputs: [Tensor]) -> Bool {
        kernel == 3 && stride == 1 && outChannels <= 8 && inputs.count == 1
    }

    private func forwardDirect(_ x: Tensor, batch b: Int, relu: Bool, output: UnsafeMutablePointer<Float>) {
        var g = mn_conv3d_geometry(
            in_c: Int64(inChannels), in_d: Int64(x.shape[2]), in_h: Int64(x.shape[3]), in_w: Int64(x.shape[4]),
            out_d: Int64(x.shape[2]), out_h: Int64(x.shape[3]), out_w: Int64(x.shape[4]),
            kernel: 3, stride: 1, pad: 1)
        let (src, w, bias, cout) = (x.channel(b, 0), weight.data, self.bias.data, Int64(outChannels))
        withUnsafePointer(to: &g) { g in
            Parallel.forChunks(x.shape[2]) { r in
                mn_conv3d_direct_small(
                    g, src, w, bias, cout, relu ? 1 : 0, output,
                    Int64(r.lowerBound), Int64(r.upperBound))
            }
        }
    }

    private func forwardOne(
        _ inputs: [Tensor], batch b: Int, dims: (Int, Int, Int),
        outDims: (Int, Int, Int), relu: Bool, output: UnsafeMutablePointer<Float>
    ) {
        let nOut = outDims.0 * outDims.1 * outDims.2
        let k3 = kernel * kernel * kernel
        let kTotal = inChannels * k3
        if kernel == 1 && stride == 1 && inputs.count == 1 {
            // A 1³ convolution is a plain GEMM on the [C_in, DHW] input.
            Gemm.multiply(
                transA: false, transB: false, m: outChannels, n: nOut, k: inChannels,
                a: weight.data, lda: kTotal, b: inputs[0].channel(b, 0), ldb: nOut, c: output, ldc: nOut)
            Parallel.forChunks(outChannels) {
                addBias(output, rows: $0, columns: 0..<nOut, stride: nOut, relu: relu)
            }
            return
        }
        let geometries = inputs.map { x in
            mn_conv3d_geometry(
                in_c: Int64(x.shape[1]), in_d: Int64(dims.0), in_h: Int64(dims.1), in_w: Int64(dims.2),
                out_d: Int64(outDims.0), out_h: Int64(outDims.1), out_w: Int64(outDims.2),
                kernel: Int64(kernel), stride: Int64(stride), pad: Int64(kernel / 2))
        }
        let sources = inputs.map { $0.channel(b, 0) }
        // im2col of output voxels [n0, n0 + t) for input channels `channels` of every input, into
        // rows [channel offset · k³ ...) of the [K, t] block `cols`.
        func im2col(n0: Int, t: Int, cols: UnsafeMutablePointer<Float>, parallel: Bool) {
            var rowOffset = 0
            for (i, x) in inputs.enumerated() {
                let c = x.shape[1]
                let dst = cols + rowOffset * k3 * t
                withUnsafePointer(to: geometries[i]) { g in
                    let fill = { (r: Range<Int>) in
                        mn_im2col3d_tile(
                            g, sources[i], Int64(n0), Int64(t), Int64(r.lowerBound), Int64(r.upperBound), dst)
                    }
                    if parallel { Parallel.forChunks(c, fill) } else { fill(0..<c) }
                }
                rowOffset += c
            }
        }
        // Tiles of output voxels whose [K, T] column block stays around 8 MB (a quarter of the
        // L3 cache of the reference machine, one block per thread) but at least 2048 wide, which
        // sgemm needs to be efficient; their count a multiple of the threads so that none idles.
        let threads = Parallel.threadCount
        let widest = max(2048, (8 << 20) / (4 * kTotal))
        var tiles = (nOut + widest - 1) / widest
        if tiles < threads {
            // Too few voxels for a tile per thread (the deepest levels): one tile, each step
            // split over the threads.
            let cols = BufferPool.allocate(floats: kTotal * nOut)
            defer { BufferPool.release(cols, floats: kTotal * nOut) }
            im2col(n0: 0, t: nOut, cols: cols, parallel: true)
            Gemm.multiply(
                transA: false, transB: false, m: outChannels, n: nOut, k: kTotal,
                a: weight.data, lda: kTotal, b: cols, ldb: nOut, c: output, ldc: nOut)
            Parallel.forChunks(outChannels) {
                addBias(output, rows: $0, columns: 0..<nOut, stride: nOut, relu: relu)
            }
            return
        }
        tiles = (tiles + threads - 1) / threads * threads
        let tile = (nOut + tiles - 1) / tiles
        // Each thread runs its tiles start to end (im2col, a single-threaded sgemm, bias and
        // activation) while the block is still in its cache.
        Gemm.prepare()
        Parallel.forChunks(tiles) { range in
            let cols = BufferPool.allocate(floats: kTotal * tile)
            defer { BufferPool.release(cols, floats: kTotal * tile) }
            for index in range {
                let n0 = index * tile
                let t = min(tile, nOut - n0)
                guard t > 0 else { continue }
                im2col(n0: n0, t: t, cols: cols, parallel: false)
                cblas_sgemm(
                    CblasRowMajor, CblasNoTrans, CblasNoTrans, Int32(outChannels), Int32(t),
                    Int32(kTotal), 1, weight.data, Int32(kTotal), cols, Int32(t), 0,
                    output + n0, Int32(nOut))
                addBias(output, rows: 0..<outChannels, columns: n0..<(n0 + t), stride: nOut, relu: relu)
            }
        }
    }

    /// output[c, columns] += bias[c] for c in `rows`, then optional ReLU, on the [C_out, stride]
    /// matrix `output`.
    private func addBias(
        _ output: UnsafeMutablePointer<Float>, rows: Range<Int>, columns: Range<Int>, stride: Int, relu: Bool
    ) {
        let bp = bias.data
        for row in rows {
            let bv = bp[row]
            let base = output + row * stride
            if relu {
                for i in columns { base[i] = max(base[i] + bv, 0) }
            } else {
                for i in columns { base[i] += bv }
            }
        }
    }
}
