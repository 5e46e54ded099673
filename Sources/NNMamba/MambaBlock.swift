import CNNKernels
import COpenBLAS

/// The Mamba v1 block of state-spaces/mamba (`Mamba`, docs/nnmamba-architecture.md §2.4), d_conv 4.
///
/// Per token u[l] ∈ R^C: xz = in_proj·u; x' = SiLU(causal depthwise conv(x)); (dt, B, C) =
/// x_proj·x'; δ = softplus(dt_proj·dt + bias); selective scan with A = −exp(A_log) and the D skip;
/// y ·= SiLU(z); out = out_proj·y. Every sequence starts with zero state and zero conv history.
public struct MambaBlock: Sendable {
    public let dModel: Int, dInner: Int, dState: Int, dtRank: Int
    /// [2·d_inner, C], and the same with its columns reversed (a channel-flipped input).
    let inProj: Tensor, inProjFlipped: Tensor
    /// [4, d_inner] tap-major (tap 3 = current token); [d_inner].
    let convWeight: Tensor, convBias: Tensor
    /// [dt_rank + 2·d_state, d_inner]
    let xProj: Tensor
    /// [d_inner, dt_rank]; [d_inner]
    let dtProjWeight: Tensor, dtProjBias: Tensor
    /// A = −exp(A_log): [d_inner, d_state]
    let a: Tensor
    /// [d_inner]
    let d: Tensor
    /// [C, d_inner], and the same with its rows reversed (output flipped back).
    let outProj: Tensor, outProjFlipped: Tensor

    /// Reads the `Mamba` parameters under `scope` (keys `in_proj.weight`, `conv1d.weight`, …).
    /// d_inner = expand·d_model; dt_rank defaults to ceil(d_model/16).
    public init(_ scope: WeightScope, dModel: Int, dState: Int, expand: Int = 2, dtRank: Int? = nil) throws {
        precondition(dState >= 1 && dState <= Int(MN_SCAN_MAX_STATE), "d_state \(dState)")
        self.dModel = dModel
        self.dState = dState
        dInner = expand * dModel
        self.dtRank = dtRank ?? (dModel + 15) / 16
        let di = dInner, r = self.dtRank
        inProj = try scope.take("in_proj.weight", shape: [2 * di, dModel])
        let conv = try scope.take("conv1d.weight", shape: [di, 1, 4])
        convWeight = Tensor(shape: [4, di]) { i in conv[(i % di) * 4 + i / di] }
        convBias = try scope.take("conv1d.bias", shape: [di])
        xProj = try scope.take("x_proj.weight", shape: [r + 2 * dState, di])
        dtProjWeight = try scope.take("dt_proj.weight", shape: [di, r])
        dtProjBias = try scope.take("dt_proj.bias", shape: [di])
        let aLog = try scope.take("A_log", shape: [di, dState])
        a = Tensor(shape: aLog.shape) { i in -expf(aLog[i]) }
        d = try scope.take("D", shape: [di])
        outProj = try scope.take("out_proj.weight", shape: [dModel, di])
        let (inP, outP, c) = (inProj, outProj, dModel)
        inProjFlipped = Tensor(shape: inP.shape) { i in inP[(i / c) * c + (c - 1 - i % c)] }
        outProjFlipped = Tensor(shape: outP.shape) { i in outP[(c - 1 - i / di) * di + i % di] }
    }

    /// How a sequence is laid out in memory.
    public enum SequenceLayout: Sendable {
        /// [L, C]: token-major (the [B, L, C] sequence of the reference).
        case tokenMajor
        /// [C, L]: channel-major (one NCDHW batch item viewed as [C, D·H·W]).
        case channelMajor
    }

    /// One pass over one sequence: output ← alpha·Mamba(input) + beta·output.
    ///
    /// input/output: [L, C] or [C, L] per `layout`. `flipChannels` runs the block on the
    /// channel-reversed sequence and reverses the result back; `reverseTokens` likewise for token
    /// order (the CSS passes of §2.5). `trace` receives this pass's intermediates for batch item 0.
    func run(
        input: UnsafePointer<Float>, output: UnsafeMutablePointer<Float>, length: Int,
        layout: SequenceLayout, flipChannels: Bool = false, reverseTokens: Bool = false,
        alpha: Float = 1, beta: Float = 0, trace: Trace? = nil
    ) {
        let L = length, di = dInner, c = dModel, s = dState, r = dtRank, xw = r + 2 * s
        let clock = Instrumentation.isActive ? Instrumentation.nanoseconds() : 0
        let xz = BufferPool.allocate(floats: L * 2 * di)
        let xc = BufferPool.allocate(floats: L * di)
        let xdbl = BufferPool.allocate(floats: L * xw)
        let delta = BufferPool.allocate(floats: L * di)
        defer {
            BufferPool.release(xz, floats: L * 2 * di)
            BufferPool.release(xc, floats: L * di)
            BufferPool.release(xdbl, floats: L * xw)
            BufferPool.release(delta, floats: L * di)
        }
        let win = flipChannels ? inProjFlipped : inProj
        let wout = flipChannels ? outProjFlipped : outProj

        // xz[L, 2di] = u[L, C] · in_proj^T
        let (transU, ldu) = layout == .tokenMajor ? (false, c) : (true, L)
        Gemm.multiply(
            transA: transU, transB: true, m: L, n: 2 * di, k: c,
            a: input, lda: ldu, b: win.data, ldb: c, c: xz, ldc: 2 * di)
        let reverse: Int32 = reverseTokens ? 1 : 0
        let (cw, cb) = (convWeight.data, convBias.data)
        Parallel.forChunks(di, granularity: 16) { range in
            mn_causal_conv1d_silu(
                xz, Int64(2 * di), Int64(L), cw, Int64(di), cb, reverse, xc,
                Int64(di), Int64(range.lowerBound), Int64(range.upperBound))
        }
        // x_dbl[L, r + 2s] = x'[L, di] · x_proj^T; δ[L, di] = softplus(dt · dt_proj^T + bias)
        Gemm.multiply(
            transA: false, transB: true, m: L, n: xw, k: di,
            a: xc, lda: di, b: xProj.data, ldb: di, c: xdbl, ldc: xw)
        Gemm.multiply(
            transA: false, transB: true, m: L, n: di, k: r,
            a: xdbl, lda: xw, b: dtProjWeight.data, ldb: r, c: delta, ldc: di)
        let db = dtProjBias.data
        Parallel.forChunks(L, granularity: 64) { range in
            mn_bias_softplus_rows(delta, Int64(di), db, Int64(range.lowerBound), Int64(range.upperBound))
        }
        if let trace { recordIntermediates(trace, xz: xz, xc: xc, xdbl: xdbl, delta: delta, length: L) }

        // The scan writes y over the x half of xz (x is no longer needed; each element is read
        // before it is written by the same lane).
        var args = mn_scan_args(
            length: Int64(L), d_state: Int64(s), x: xc, x_stride: Int64(di), delta: delta,
            delta_stride: Int64(di), a: a.data, b: xdbl + r, c: xdbl + r + s, bc_stride: Int64(xw),
            d_skip: d.data, z: xz + di, z_stride: Int64(2 * di), y: xz, y_stride: Int64(2 * di),
            reverse: reverse)
        let scanTime = Instrumentation.time(.selectiveScan) { () -> Int in
            let start = Instrumentation.nanoseconds()
            withUnsafePointer(to: &args) { argsPointer in
                Parallel.forChunks(di, granularity: 16) { range in
                    mn_selective_scan(argsPointer, Int64(range.lowerBound), Int64(range.upperBound))
                }
            }
            return Instrumentation.nanoseconds() - start
        }
        // out = y · out_proj^T, in the caller's layout.
        if layout == .tokenMajor {
            Gemm.multiply(
                transA: false, transB: true, m: L, n: c, k: di, alpha: alpha,
                a: xz, lda: 2 * di, b: wout.data, ldb: di, beta: beta, c: output, ldc: c)
        } else {
            Gemm.multiply(
                transA: false, transB: true, m: c, n: L, k: di, alpha: alpha,
                a: wout.data, lda: di, b: xz, ldb: 2 * di, beta: beta, c: output, ldc: L)
        }
        if Instrumentation.isActive {
            Instrumentation.record(.mambaProjections, nanoseconds: Instrumentation.nanoseconds() - clock - scanTime)
        }
    }

    private func recordIntermediates(
        _ trace: Trace, xz: UnsafePointer<Float>, xc: UnsafePointer<Float>,
        xdbl: UnsafePointer<Float>, delta: UnsafePointer<Float>, length L: Int
    ) {
        let di = dInner, xw = dtRank + 2 * dState
        let txz = Tensor(zeros: [1, 2 * di, L])
        transpose(xz, rows: L, cols: 2 * di, srcStride: 2 * di, into: txz.data, dstStride: L)
        trace.record("xz", txz)
        let txc = Tensor(zeros: [1, di, L])
        transpose(xc, rows: L, cols: di, srcStride: di, into: txc.data, dstStride: L)
        trace.record("x_conv_silu", txc)
        let tdbl = Tensor(zeros: [1, L, xw])
        tdbl.data.update(from: xdbl, count: L * xw)
        trace.record("x_dbl", tdbl)
        let tdelta = Tensor(zeros: [1, di, L])
        transpose(delta, rows: L, cols: di, srcStride: di, into: tdelta.data, dstStride: L)
        trace.record("delta_softplus", tdelta)
    }

    /// Mamba over a batch of sequences.
    ///
    /// x: [B, L, d_model] -> [B, L, d_model]. `trace` records the intermediates of item 0.
    public func callAsFunction(_ x: Tensor, trace: Trace? = nil) -> Tensor {
        precondition(x.rank == 3 && x.shape[2] == dModel, "Mamba(d_model \(dModel)) on \(x.shape)")
        let (b, l) = (x.shape[0], x.shape[1])
        let out = Tensor(zeros: x.shape)
        for i in 0..<b {
            run(
                input: x.data + i * l * dModel, output: out.data + i * l * dModel, length: l,
                layout: .tokenMajor, trace: i == 0 ? trace : nil)
        }
        return out
    }
}

#if canImport(Glibc)
    import Glibc
#endif
