import Testing

@testable import NNMamba

@Suite struct GemmTests {
    /// C = alpha · op(A) · op(B) + beta · C in double precision, row-major.
    func reference(
        transA: Bool, transB: Bool, m: Int, n: Int, k: Int, alpha: Float, a: Tensor, b: Tensor,
        beta: Float, c: Tensor
    ) -> Tensor {
        let out = c.copy()
        for i in 0..<m {
            for j in 0..<n {
                var s = 0.0
                for p in 0..<k {
                    let av = transA ? a[p * m + i] : a[i * k + p]
                    let bv = transB ? b[j * k + p] : b[p * n + j]
                    s += Double(av) * Double(bv)
                }
                out[i * n + j] = Float(Double(alpha) * s + Double(beta) * Double(c[i * n + j]))
            }
        }
        return out
    }

    /// Tall (split by rows), wide (split by columns) and tiny (one call) products, each with every
    /// transposition and a non-zero beta, against the double-precision product.
    @Test(arguments: [(300, 40, 70), (24, 500, 90), (5, 7, 3)], [false, true])
    func splitProductEqualsTheWholeProduct(_ shape: (Int, Int, Int), _ transposed: Bool) {
        let (m, n, k) = shape
        let a = randomTensor(transposed ? [k, m] : [m, k], seed: 31)
        let b = randomTensor(transposed ? [n, k] : [k, n], seed: 32)
        let c = randomTensor([m, n], seed: 33)
        let ref = reference(
            transA: transposed, transB: transposed, m: m, n: n, k: k, alpha: 0.5, a: a, b: b, beta: 2, c: c)
        Gemm.multiply(
            transA: transposed, transB: transposed, m: m, n: n, k: k, alpha: 0.5,
            a: a.data, lda: transposed ? m : k, b: b.data, ldb: transposed ? k : n, beta: 2,
            c: c.data, ldc: n)
        #expect(c.maxAbsDifference(ref) < 1e-4)
    }
}
