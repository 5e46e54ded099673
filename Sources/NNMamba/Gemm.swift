import COpenBLAS

/// Single-precision GEMM for the engine: OpenBLAS runs single-threaded and the engine splits
/// each product over its own threads.
///
/// With OpenBLAS's own threads, every GEMM is a fork and join with workers that then spin in
/// `sched_yield` for a while; on two cores they take CPU time from the engine's next loop
/// (im2col, the scan). Splitting the product into blocks of C, one per engine thread, each a
/// single-threaded OpenBLAS call, keeps one set of threads busy (docs/platform-notes.md §3).
public enum Gemm {
    /// Sets OpenBLAS to one thread once per process, before the first product.
    private static let singleThreadedBLAS: Void = { openblas_set_num_threads(1) }()

    /// Makes OpenBLAS single-threaded; called once at start-up and before every product.
    public static func prepare() { _ = singleThreadedBLAS }

    /// C[m, n] = alpha · op(A)[m, k] · op(B)[k, n] + beta · C, row-major, as `cblas_sgemm`.
    ///
    /// Splits the larger of m and n into one block per engine thread (in multiples of 16);
    /// products too small to be worth a thread run on the caller's thread.
    public static func multiply(
        transA: Bool, transB: Bool, m: Int, n: Int, k: Int, alpha: Float = 1,
        a: UnsafePointer<Float>, lda: Int, b: UnsafePointer<Float>, ldb: Int,
        beta: Float = 0, c: UnsafeMutablePointer<Float>, ldc: Int
    ) {
        prepare()
        let ta = transA ? CblasTrans : CblasNoTrans, tb = transB ? CblasTrans : CblasNoTrans
        func block(rows: Range<Int>, cols: Range<Int>) {
            // Row i of op(A) starts at A + i·lda (not transposed) or A + i (transposed); column j
            // of op(B) at B + j (not transposed) or B + j·ldb (transposed).
            let aBlock = a + (transA ? rows.lowerBound : rows.lowerBound * lda)
            let bBlock = b + (transB ? cols.lowerBound * ldb : cols.lowerBound)
            cblas_sgemm(
                CblasRowMajor, ta, tb, Int32(rows.count), Int32(cols.count), Int32(k), alpha,
                aBlock, Int32(lda), bBlock, Int32(ldb), beta,
                c + rows.lowerBound * ldc + cols.lowerBound, Int32(ldc))
        }
        // Below about a million multiply-adds a second thread costs more than it saves.
        if m * n * k < 1 << 20 || Parallel.threadCount == 1 {
            block(rows: 0..<m, cols: 0..<n)
        } else if m >= n {
            Parallel.forChunks(m, granularity: 16) { block(rows: $0, cols: 0..<n) }
        } else {
            Parallel.forChunks(n, granularity: 16) { block(rows: 0..<m, cols: $0) }
        }
    }
}
