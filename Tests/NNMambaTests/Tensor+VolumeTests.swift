import Testing

@testable import NNMamba

/// PyTorch's general align_corners=false rule: source = max((j + 0.5)/2 − 0.5, 0).
func naiveUpsample(_ x: Tensor) -> Tensor {
    let (n, c, d, h, w) = (x.shape[0], x.shape[1], x.shape[2], x.shape[3], x.shape[4])
    func taps(_ j: Int, _ m: Int) -> [(Int, Double)] {
        let src = max((Double(j) + 0.5) / 2 - 0.5, 0)
        let i0 = Int(src.rounded(.down)), i1 = min(i0 + 1, m - 1)
        let l = src - Double(i0)
        return [(i0, 1 - l), (i1, l)]
    }
    let y = Tensor(zeros: [n, c, 2 * d, 2 * h, 2 * w])
    for p in 0..<(n * c) {
        for z in 0..<(2 * d) {
            for yy in 0..<(2 * h) {
                for xx in 0..<(2 * w) {
                    var acc = 0.0
                    for (iz, wz) in taps(z, d) {
                        for (iy, wy) in taps(yy, h) {
                            for (ix, wx) in taps(xx, w) {
                                acc += wz * wy * wx * Double(x[((p * d + iz) * h + iy) * w + ix])
                            }
                        }
                    }
                    y[((p * 2 * d + z) * 2 * h + yy) * 2 * w + xx] = Float(acc)
                }
            }
        }
    }
    return y
}

@Suite struct TensorVolumeTests {
    @Test func trilinearUpsamplingMatchesPyTorchRuleIncludingEdgesAndLengthOne() {
        let x = randomTensor([1, 2, 1, 3, 4], seed: 20)
        let y = upsampleTrilinear2x(x)
        #expect(y.shape == [1, 2, 2, 6, 8])
        #expect(y.maxAbsDifference(naiveUpsample(x)) < 1e-6)
    }

    @Test func upsamplingEdgesUseClampedNeighbours() {
        let x = Tensor(shape: [1, 1, 1, 1, 3], values: [1, 2, 4])
        // out 0 = x0; out 1 = .75·1 + .25·2; out 4 = .75·4 + .25·2; out 5 = x2.
        let y = upsampleTrilinear2x(x)
        #expect(y.shape == [1, 1, 2, 2, 6])
        // D and H have length 1, so all four W rows are the same.
        #expect(y.values == Array(repeating: [1, 1.25, 1.75, 2.5, 3.5, 4] as [Float], count: 4).flatMap { $0 })
    }

    @Test func globalAveragePoolingAndChannelScaling() {
        let x = Tensor(shape: [1, 2, 1, 2, 2], values: [1, 2, 3, 4, -1, -1, -1, 5])
        #expect(globalAveragePool(x).values == [2.5, 0.5])
        let g = Tensor(shape: [1, 2], values: [2, 0.5])
        #expect(scaleChannels(x, by: g).values == [2, 4, 6, 8, -0.5, -0.5, -0.5, 2.5])
    }

    @Test func reversingSpatialAxesTransposesAndUndoesItself() {
        let x = randomTensor([2, 3, 4, 5, 6], seed: 41)
        let y = reversingSpatialAxes(x)
        #expect(y.shape == [2, 3, 6, 5, 4])
        // y[n, c, r, q, p] = x[n, c, p, q, r]
        for (n, c, p, q, r) in [(0, 0, 0, 0, 0), (1, 2, 3, 4, 5), (0, 1, 2, 0, 4), (1, 0, 3, 1, 0)] {
            #expect(y[(((n * 3 + c) * 6 + r) * 5 + q) * 4 + p] == x[(((n * 3 + c) * 4 + p) * 5 + q) * 6 + r])
        }
        #expect(reversingSpatialAxes(y).values == x.values)
    }

    @Test func concatenationKeepsOrder() {
        let a = Tensor(shape: [1, 1, 1, 1, 2], values: [1, 2]), b = Tensor(shape: [1, 2, 1, 1, 2], values: [3, 4, 5, 6])
        let c = concatChannels([a, b])
        #expect(c.shape == [1, 3, 1, 1, 2])
        #expect(c.values == [1, 2, 3, 4, 5, 6])
    }

    @Test func linearLayer() {
        let l = Linear(
            weight: Tensor(shape: [2, 3], values: [1, 0, -1, 2, 1, 0]), bias: Tensor(shape: [2], values: [0.5, -1]))
        #expect(l(Tensor(shape: [1, 3], values: [1, 2, 3])).values == [-1.5, 3])
    }
}
