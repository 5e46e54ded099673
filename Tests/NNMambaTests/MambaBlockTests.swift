import CNNKernels
import Foundation
import SeededRandom
import Testing

@testable import NNMamba

/// Random Mamba parameters under `prefix` (PyTorch key names), d_model c, d_state s.
func randomMambaWeights(c: Int, s: Int, prefix: String = "", seed: UInt64) -> [String: Tensor] {
    let di = 2 * c, r = (c + 15) / 16
    var rng = SplitMix64(seed: seed)
    func t(_ shape: [Int], _ f: (inout SplitMix64, Int) -> Float) -> Tensor {
        Tensor(shape: shape) { i in f(&rng, i) }
    }
    return [
        prefix + "in_proj.weight": t([2 * di, c]) { g, _ in (2 * g.nextFloat() - 1) / Float(c).squareRoot() },
        prefix + "conv1d.weight": t([di, 1, 4]) { g, _ in g.nextFloat() - 0.5 },
        prefix + "conv1d.bias": t([di]) { g, _ in g.nextFloat() - 0.5 },
        prefix + "x_proj.weight": t([r + 2 * s, di]) { g, _ in (2 * g.nextFloat() - 1) / Float(di).squareRoot() },
        prefix + "dt_proj.weight": t([di, r]) { g, _ in 2 * g.nextFloat() - 1 },
        prefix + "dt_proj.bias": t([di]) { g, _ in -4 + 3 * g.nextFloat() },
        prefix + "A_log": t([di, s]) { g, i in logf(Float(i % s + 1)) + 0.2 * (g.nextFloat() - 0.5) },
        prefix + "D": t([di]) { g, _ in 0.5 + g.nextFloat() },
        prefix + "out_proj.weight": t([c, di]) { g, _ in (2 * g.nextFloat() - 1) / Float(di).squareRoot() }
    ]
}

/// The reference Mamba forward (§2.4) in double precision on u: [L][C].
func naiveMamba(_ u: [[Double]], _ w: [String: Tensor], c: Int, s: Int, prefix: String = "") -> [[Double]] {
    let di = 2 * c, r = (c + 15) / 16, L = u.count
    func m(_ k: String) -> Tensor { w[prefix + k]! }
    let inP = m("in_proj.weight"), cw = m("conv1d.weight"), cb = m("conv1d.bias"), xp = m("x_proj.weight")
    let dtw = m("dt_proj.weight"), dtb = m("dt_proj.bias"), aLog = m("A_log"), dD = m("D"), op = m("out_proj.weight")
    var x = [[Double]](repeating: [Double](repeating: 0, count: di), count: L), z = x
    for l in 0..<L {
        for j in 0..<(2 * di) {
            var acc = 0.0
            for k in 0..<c { acc += Double(inP[j * c + k]) * u[l][k] }
            if j < di { x[l][j] = acc } else { z[l][j - di] = acc }
        }
    }
    var xc = x
    for l in 0..<L {
        for d in 0..<di {
            var acc = Double(cb[d])
            for k in 0..<4 where l - 3 + k >= 0 { acc += Double(cw[d * 4 + k]) * x[l - 3 + k][d] }
            xc[l][d] = acc / (1 + exp(-acc))
        }
    }
    var h = [[Double]](repeating: [Double](repeating: 0, count: s), count: di)
    var out = [[Double]](repeating: [Double](repeating: 0, count: c), count: L)
    for l in 0..<L {
        var dbl = [Double](repeating: 0, count: r + 2 * s)
        for j in 0..<(r + 2 * s) { for d in 0..<di { dbl[j] += Double(xp[j * di + d]) * xc[l][d] } }
        var y = [Double](repeating: 0, count: di)
        for d in 0..<di {
            var pre = Double(dtb[d])
            for k in 0..<r { pre += Double(dtw[d * r + k]) * dbl[k] }
            let delta = pre > 20 ? pre : log1p(exp(pre))
            var acc = Double(dD[d]) * xc[l][d]
            for n in 0..<s {
                let a = -exp(Double(aLog[d * s + n]))
                h[d][n] = exp(delta * a) * h[d][n] + delta * dbl[r + n] * xc[l][d]
                acc += dbl[r + s + n] * h[d][n]
            }
            y[d] = acc * z[l][d] / (1 + exp(-z[l][d]))
        }
        for k in 0..<c { for d in 0..<di { out[l][k] += Double(op[k * di + d]) * y[d] } }
    }
    return out
}

func loadMamba(_ weights: [String: Tensor], c: Int, s: Int) throws -> MambaBlock {
    let dir = try temporaryDirectory()
    defer { try? FileManager.default.removeItem(atPath: dir) }
    try SafeTensorsFile.write(weights, to: dir + "/w.safetensors")
    let w = try Weights(path: dir + "/w.safetensors")
    let block = try MambaBlock(WeightScope(w), dModel: c, dState: s)
    try w.finish()
    return block
}

func rows(_ t: Tensor, _ L: Int, _ C: Int) -> [[Double]] {
    (0..<L).map { l in (0..<C).map { Double(t[l * C + $0]) } }
}

func maxDiff(_ a: [[Double]], _ b: [[Double]]) -> Double {
    zip(a, b).map { zip($0, $1).map { abs($0 - $1) }.max()! }.max()!
}

@Suite struct MambaBlockTests {
    @Test(arguments: [(16, 16), (24, 8), (8, 5)])
    func matchesNaiveDoublePrecisionReference(_ c: Int, _ s: Int) throws {
        let w = randomMambaWeights(c: c, s: s, seed: 30)
        let block = try loadMamba(w, c: c, s: s)
        let L = 23
        let u = randomTensor([1, L, c], seed: 31)
        let y = block(u)
        let ref = naiveMamba(rows(u, L, c), w, c: c, s: s)
        #expect(maxDiff(rows(y, L, c), ref) < 2e-6)
    }

    @Test func flipsEqualTheBlockOnFlippedSequences() throws {
        let (c, s, L) = (16, 16, 19)
        let w = randomMambaWeights(c: c, s: s, seed: 32)
        let block = try loadMamba(w, c: c, s: s)
        let u = rows(randomTensor([1, L, c], seed: 33), L, c)
        let input = Tensor(shape: [L, c]) { i in Float(u[i / c][i % c]) }
        for (flipC, flipL) in [(true, false), (false, true), (true, true)] {
            let out = Tensor(zeros: [L, c])
            block.run(
                input: input.data, output: out.data, length: L, layout: .tokenMajor,
                flipChannels: flipC, reverseTokens: flipL)
            var v = u
            if flipC { v = v.map { $0.reversed() } }
            if flipL { v.reverse() }
            var ref = naiveMamba(v, w, c: c, s: s)
            if flipL { ref.reverse() }
            if flipC { ref = ref.map { $0.reversed() } }
            #expect(maxDiff(rows(out, L, c), ref) < 2e-6, "flipC \(flipC) flipL \(flipL)")
        }
    }

    @Test func channelMajorLayoutEqualsTokenMajor() throws {
        let (c, s, L) = (16, 8, 30)
        let block = try loadMamba(randomMambaWeights(c: c, s: s, seed: 34), c: c, s: s)
        let u = randomTensor([1, L, c], seed: 35)
        let ut = Tensor(shape: [c, L]) { i in u[(i % L) * c + i / L] }
        let a = block(u), b = Tensor(zeros: [c, L])
        block.run(input: ut.data, output: b.data, length: L, layout: .channelMajor)
        let bt = Tensor(shape: [L, c]) { i in b[(i % c) * L + i / c] }
        #expect(a.maxAbsDifference(bt) < 1e-6)
    }

    @Test func causalConvSeesOnlyThePastWithZeroHistory() {
        let (L, di) = (6, 16)
        let x = randomTensor([L, di], seed: 36)
        let w = randomTensor([4, di], seed: 37), b = randomTensor([di], seed: 38)
        func conv(_ x: Tensor, reverse: Int32) -> Tensor {
            let out = Tensor(zeros: [L, di])
            mn_causal_conv1d_silu(
                x.data, Int64(di), Int64(L), w.data, Int64(di), b.data, reverse, out.data,
                Int64(di), 0, Int64(di))
            return out
        }
        let y = conv(x, reverse: 0)
        // Token 0 sees only itself (tap 3) and zero history.
        for d in 0..<di {
            let pre = b[d] + w[3 * di + d] * x[d]
            #expect(abs(y[d] - pre / (1 + expf(-pre))) < 1e-6)
        }
        // Changing token 4 changes no output before it.
        let x2 = x.copy()
        for d in 0..<di { x2[4 * di + d] += 1 }
        let y2 = conv(x2, reverse: 0)
        #expect(Array(y.values[0..<(4 * di)]) == Array(y2.values[0..<(4 * di)]))
        #expect(y.values[(4 * di)...] != y2.values[(4 * di)...])
        // Reverse: changing token 1 changes no output after it.
        let r = conv(x, reverse: 1),
            r2 = conv(
                {
                    let t = x.copy()
                    for d in 0..<di { t[di + d] -= 1 }
                    return t
                }(), reverse: 1)
        #expect(Array(r.values[(2 * di)...]) == Array(r2.values[(2 * di)...]))
    }

    static let levels: [Int32] = [0, 1, 2].filter { $0 == 0 || mn_cpu_simd_level() & $0 != 0 }

    @Test(arguments: levels)
    func scanMatchesNaiveLoopAtEverySimdLevel(_ level: Int32) {
        for s in [16, 8, 5] {
            let (L, di) = (17, 40) // two 16-channel blocks and an 8-channel scalar tail
            let x = randomTensor([L, di], seed: 40), z = randomTensor([L, di], seed: 41)
            let delta = Tensor(shape: [L, di]) { i in 0.01 + 0.5 * Float((i * 7919) % 100) / 100 }
            let a = Tensor(shape: [di, s]) { i in -Float(i % s + 1) }
            let bc = randomTensor([L, 2 * s], seed: 42), dskip = randomTensor([di], seed: 43)
            let y = Tensor(zeros: [L, di])
            var args = mn_scan_args(
                length: Int64(L), d_state: Int64(s), x: x.data, x_stride: Int64(di),
                delta: delta.data, delta_stride: Int64(di), a: a.data, b: bc.data,
                c: bc.data + s, bc_stride: Int64(2 * s), d_skip: dskip.data, z: z.data,
                z_stride: Int64(di), y: y.data, y_stride: Int64(di), reverse: 0)
            mn_selective_scan_at(level, &args, 0, Int64(di))
            for d in 0..<di {
                var h = [Double](repeating: 0, count: s)
                for l in 0..<L {
                    let dl = Double(delta[l * di + d]), xl = Double(x[l * di + d])
                    var acc = Double(dskip[d]) * xl
                    for n in 0..<s {
                        h[n] = exp(dl * Double(a[d * s + n])) * h[n] + dl * Double(bc[l * 2 * s + n]) * xl
                        acc += Double(bc[l * 2 * s + s + n]) * h[n]
                    }
                    let zl = Double(z[l * di + d])
                    let ref = acc * zl / (1 + exp(-zl))
                    #expect(abs(Double(y[l * di + d]) - ref) < 2e-6, "level \(level) s \(s) l \(l) d \(d)")
                }
            }
        }
    }

    /// The causal depthwise conv + bias + SiLU at each SIMD level against a direct loop
    /// (kernel 4, zero history; tap 3 is the current token), forwards and token-reversed.
    @Test(arguments: levels)
    func causalConvMatchesNaiveLoopAtEverySimdLevel(_ level: Int32) {
        let (L, di) = (13, 40) // two 16-channel blocks and an 8-channel scalar tail
        let x = randomTensor([L, di], seed: 50), w = randomTensor([4, di], seed: 51), b = randomTensor([di], seed: 52)
        for reverse: Int32 in [0, 1] {
            let out = Tensor(zeros: [L, di])
            mn_causal_conv1d_silu_at(
                level, x.data, Int64(di), Int64(L), w.data, Int64(di), b.data, reverse, out.data, Int64(di), 0,
                Int64(di))
            for l in 0..<L {
                for d in 0..<di {
                    var acc = Double(b[d])
                    for tap in 0..<4 {
                        // The token `3 - tap` steps back (or ahead, reversed) feeds tap `tap`.
                        let source = reverse == 0 ? l - (3 - tap) : l + (3 - tap)
                        if source >= 0 && source < L { acc += Double(w[tap * di + d]) * Double(x[source * di + d]) }
                    }
                    let ref = acc / (1 + exp(-acc))
                    #expect(
                        abs(Double(out[l * di + d]) - ref) < 2e-6, "level \(level) reverse \(reverse) l \(l) d \(d)")
                }
            }
        }
    }

    /// softplus(delta + bias) at each SIMD level against the direct formula, over the range of
    /// values dt_proj produces (large values stay linear, as in PyTorch's threshold 20).
    @Test(arguments: levels)
    func biasSoftplusMatchesTheFormulaAtEverySimdLevel(_ level: Int32) {
        let (L, di) = (5, 40)
        let delta = Tensor(shape: [L, di]) { i in Float(i % 41) - 20 }, bias = randomTensor([di], seed: 53)
        let original = delta.copy()
        mn_bias_softplus_rows_at(level, delta.data, Int64(di), bias.data, 0, Int64(L))
        for l in 0..<L {
            for d in 0..<di {
                let v = Double(original[l * di + d]) + Double(bias[d])
                let ref = v > 20 ? v : log1p(exp(v))
                #expect(abs(Double(delta[l * di + d]) - ref) < 2e-6 * max(1, abs(ref)), "level \(level) l \(l) d \(d)")
            }
        }
    }
}
