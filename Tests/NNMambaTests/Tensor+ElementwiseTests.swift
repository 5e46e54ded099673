import CNNKernels
import Foundation
import SeededRandom
import Testing

@testable import NNMamba

@Suite struct TensorElementwiseTests {
    static let levels: [Int32] = [0, 1, 2].filter { $0 == 0 || mn_cpu_simd_level() & $0 != 0 }

    @Test(arguments: levels)
    func softplusFollowsPyTorchThreshold(_ level: Int32) {
        let inputs: [Float] = [-100, -30, -5, -1e-3, 0, 1, 5, 19.9, 20, 20.001, 25, 100]
        var x = inputs
        mn_unary_inplace_at(level, &x, Int64(x.count), Int32(MN_UNARY_SOFTPLUS))
        for (v, y) in zip(inputs, x) {
            let ref = v > 20 ? Double(v) : log1p(exp(Double(v)))
            #expect(abs(Double(y) - ref) <= 2e-7 * max(abs(ref), 1e-30) + 1e-44, "softplus(\(v)) = \(y), want \(ref)")
        }
        // Above the threshold the input comes back bit for bit.
        #expect(x[9] == inputs[9] && x[10] == inputs[10])
    }

    @Test(arguments: levels)
    func expSiluSigmoidAgreeWithDoublePrecision(_ level: Int32) {
        var rng = SplitMix64(seed: 5)
        let inputs = (0..<999).map { _ in 160 * rng.nextFloat() - 80 }
        let expRef: (Double) -> Double = { v in exp(v) }
        let siluRef: (Double) -> Double = { v in v / (1 + exp(-v)) }
        let sigmoidRef: (Double) -> Double = { v in 1 / (1 + exp(-v)) }
        let cases: [(Int, (Double) -> Double)] = [
            (Int(MN_UNARY_EXP), expRef), (Int(MN_UNARY_SILU), siluRef),
            (Int(MN_UNARY_SIGMOID), sigmoidRef)
        ]
        for (op, f) in cases {
            var x = inputs
            mn_unary_inplace_at(level, &x, Int64(x.count), Int32(op))
            for (v, y) in zip(inputs, x) {
                let ref = f(Double(v))
                #expect(abs(Double(y) - ref) <= 4e-7 * abs(ref) + 1e-37, "op \(op)(\(v)) = \(y), want \(ref)")
            }
        }
    }

    @Test func softmaxOverChannels() {
        let x = Tensor(shape: [1, 2, 1, 1, 2], values: [0, 1000, 0, 1000])
        let y = softmaxChannels(x)
        #expect(y.values == [0.5, 0.5, 0.5, 0.5])
    }
}
