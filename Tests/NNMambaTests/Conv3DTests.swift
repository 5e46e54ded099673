import CNNKernels
import Testing

@testable import NNMamba

/// Direct 3-D convolution in double precision (zero padding k/2), the independent reference.
func naiveConv3D(_ x: Tensor, weight w: Tensor, bias: Tensor?, stride s: Int) -> Tensor {
    let (n, cin, d, h, wd) = (x.shape[0], x.shape[1], x.shape[2], x.shape[3], x.shape[4])
    let (cout, k) = (w.shape[0], w.shape[2])
    let p = k / 2
    let (od, oh, ow) = ((d + s - 1) / s, (h + s - 1) / s, (wd + s - 1) / s)
    let y = Tensor(zeros: [n, cout, od, oh, ow])
    for b in 0..<n {
        for o in 0..<cout {
            for z in 0..<od {
                for yy in 0..<oh {
                    for xx in 0..<ow {
                        var acc = Double(bias?[o] ?? 0)
                        for c in 0..<cin {
                            for kz in 0..<k {
                                for ky in 0..<k {
                                    for kx in 0..<k {
                                        let iz = z * s + kz - p, iy = yy * s + ky - p, ix = xx * s + kx - p
                                        guard iz >= 0, iz < d, iy >= 0, iy < h, ix >= 0, ix < wd else { continue }
                                        acc +=
                                            Double(w[(((o * cin + c) * k + kz) * k + ky) * k + kx])
                                            * Double(x[(((b * cin + c) * d + iz) * h + iy) * wd + ix])
                                    }
                                }
                            }
                        }
                        y[(((b * cout + o) * od + z) * oh + yy) * ow + xx] = Float(acc)
                    }
                }
            }
        }
    }
    return y
}

@Suite struct Conv3DTests {
    @Test(arguments: [(3, 2), (3, 1), (1, 2), (1, 1)])
    func matchesDirectConvolutionOnOddSizes(_ kernel: Int, _ stride: Int) {
        let x = randomTensor([2, 3, 5, 7, 9], seed: 1)
        let w = randomTensor([4, 3, kernel, kernel, kernel], seed: 2, scale: 0.5)
        let b = randomTensor([4], seed: 3)
        let conv = Conv3D(weight: w, bias: b, stride: stride)
        let y = conv(x)
        let ref = naiveConv3D(x, weight: w, bias: b, stride: stride)
        #expect(y.shape == ref.shape)
        #expect(y.shape == [2, 4, stride == 2 ? 3 : 5, stride == 2 ? 4 : 7, stride == 2 ? 5 : 9])
        #expect(y.maxAbsDifference(ref) < 1e-5)
    }

    @Test func gemmPathWithManyOutputChannelsMatches() {
        let x = randomTensor([1, 3, 5, 6, 7], seed: 13)
        let w = randomTensor([12, 3, 3, 3, 3], seed: 14, scale: 0.5), b = randomTensor([12], seed: 15)
        let y = Conv3D(weight: w, bias: b, stride: 1, winograd: .never)(x)
        #expect(y.maxAbsDifference(naiveConv3D(x, weight: w, bias: b, stride: 1)) < 1e-5)
    }

    @Test(arguments: TensorElementwiseTests.levels)
    func directSmallKernelMatchesAtEverySimdLevel(_ level: Int32) {
        let x = randomTensor([1, 3, 4, 5, 19], seed: 16)
        let w = randomTensor([2, 3, 3, 3, 3], seed: 17), b = randomTensor([2], seed: 18)
        var g = mn_conv3d_geometry(
            in_c: 3, in_d: 4, in_h: 5, in_w: 19, out_d: 4, out_h: 5, out_w: 19,
            kernel: 3, stride: 1, pad: 1)
        let y = Tensor(zeros: [1, 2, 4, 5, 19])
        mn_conv3d_direct_small_at(level, &g, x.data, w.data, b.data, 2, 1, y.data, 0, 4)
        let ref = naiveConv3D(x, weight: w, bias: b, stride: 1)
        ref.reluInPlace()
        #expect(y.maxAbsDifference(ref) < 1e-5)
    }

    /// More input channels than one gathered group (16), output channels in two groups of four
    /// with padding, a width that leaves a partial 16-lane chunk, and the volume's edges.
    @Test(arguments: TensorElementwiseTests.levels)
    func directSmallKernelWithChannelGroupsMatches(_ level: Int32) {
        let x = randomTensor([1, 20, 5, 3, 37], seed: 41)
        let w = randomTensor([7, 20, 3, 3, 3], seed: 42, scale: 0.3), b = randomTensor([7], seed: 43)
        var g = mn_conv3d_geometry(
            in_c: 20, in_d: 5, in_h: 3, in_w: 37, out_d: 5, out_h: 3, out_w: 37, kernel: 3, stride: 1, pad: 1)
        let y = Tensor(zeros: [1, 7, 5, 3, 37])
        // Two depth ranges, as two threads would run them.
        mn_conv3d_direct_small_at(level, &g, x.data, w.data, b.data, 7, 0, y.data, 0, 2)
        mn_conv3d_direct_small_at(level, &g, x.data, w.data, b.data, 7, 0, y.data, 2, 5)
        let ref = naiveConv3D(x, weight: w, bias: b, stride: 1)
        #expect(y.maxAbsDifference(ref) < 1e-5 * max(1, ref.maxAbs))
        #expect(ref.maxAbs > 1)
    }

    @Test func tilesLargerThanOneBlockMatch() {
        // 2·27 = 54 rows, 20·9·20 = 3600 output voxels: more than one 2048-voxel tile, tiles
        // starting mid-row.
        let x = randomTensor([1, 2, 20, 9, 20], seed: 4)
        let w = randomTensor([9, 2, 3, 3, 3], seed: 5)
        let y = Conv3D(weight: w, bias: nil, stride: 1, winograd: .never)(x, relu: true)
        let ref = naiveConv3D(x, weight: w, bias: nil, stride: 1)
        ref.reluInPlace()
        #expect(y.maxAbsDifference(ref) < 1e-5)
    }

    @Test func tilesSpreadOverThreadsMatch() {
        // 40·27 = 1080 rows, 6·9·100 = 5400 output voxels: several 2048-wide tiles (an 8 MB block
        // holds fewer columns), run each by one thread with its bias and ReLU; two inputs, so
        // each tile's im2col block is filled from both.
        let a = randomTensor([1, 25, 6, 9, 100], seed: 19), b = randomTensor([1, 15, 6, 9, 100], seed: 20)
        let w = randomTensor([5, 40, 3, 3, 3], seed: 21, scale: 0.2), bias = randomTensor([5], seed: 22)
        let y = Conv3D(weight: w, bias: bias, stride: 1, winograd: .never)([a, b], relu: true)
        let ref = naiveConv3D(concatChannels([a, b]), weight: w, bias: bias, stride: 1)
        ref.reluInPlace()
        #expect(y.maxAbsDifference(ref) < 1e-4)
        #expect(ref.maxAbs > 1)
    }

    @Test func concatenatedInputsEqualConvolutionOfTheConcatenation() {
        let a = randomTensor([1, 2, 4, 4, 6], seed: 6), b = randomTensor([1, 3, 4, 4, 6], seed: 7)
        // Both calls take the same path (Winograd, or im2col + GEMM), so the results are
        // bit-identical.
        for winograd in [WinogradUse.always, .never] {
            let conv = Conv3D(
                weight: randomTensor([12, 5, 3, 3, 3], seed: 8), bias: randomTensor([12], seed: 9), stride: 1,
                winograd: winograd)
            #expect(conv([a, b]).maxAbsDifference(conv(concatChannels([a, b]))) == 0)
        }
    }

    @Test func foldedBatchNormEqualsConvThenBatchNorm() {
        let x = randomTensor([1, 2, 3, 4, 5], seed: 10)
        let w = randomTensor([3, 2, 3, 3, 3], seed: 11), b = randomTensor([3], seed: 12)
        let bn = BatchNorm(
            weight: Tensor(shape: [3], values: [0.7, 1.2, 1.0]),
            bias: Tensor(shape: [3], values: [0.1, -0.2, 0.3]),
            runningMean: Tensor(shape: [3], values: [0.5, -0.4, 0]),
            runningVar: Tensor(shape: [3], values: [0.8, 1.5, 2.0]))
        let folded = Conv3D(weight: w, bias: b, stride: 2).folding(bn)(x)
        let ref = naiveConv3D(x, weight: w, bias: b, stride: 2)
        let v = ref.voxelCount
        for c in 0..<3 {
            let scale = bn.weight[c] / (bn.runningVar[c] + 1e-5).squareRoot()
            for i in 0..<v {
                ref[c * v + i] = (ref[c * v + i] - bn.runningMean[c]) * scale + bn.bias[c]
            }
        }
        #expect(folded.maxAbsDifference(ref) < 1e-5)
    }

    // Winograd F(2×2×2, 3×3×3) (Conv3D+Winograd.swift, CNNKernels/winograd3d.c).

    @Test func winogradIsChosenForStrideOneThreeCubedConvolutionsOfModerateWidth() {
        #expect(Conv3D.runsAsWinograd(kernel: 3, stride: 1, in: 32, out: 32))
        #expect(Conv3D.runsAsWinograd(kernel: 3, stride: 1, in: 96, out: 32))
        #expect(Conv3D.runsAsWinograd(kernel: 3, stride: 1, in: 128, out: 128))
        #expect(Conv3D.runsAsWinograd(kernel: 3, stride: 1, in: 384, out: 128))
        #expect(!Conv3D.runsAsWinograd(kernel: 3, stride: 1, in: 256, out: 256))
        #expect(!Conv3D.runsAsWinograd(kernel: 3, stride: 1, in: 32, out: 4))
        #expect(!Conv3D.runsAsWinograd(kernel: 3, stride: 2, in: 32, out: 64))
        #expect(!Conv3D.runsAsWinograd(kernel: 1, stride: 1, in: 32, out: 64))
        let w = randomTensor([12, 3, 3, 3, 3], seed: 30)
        #expect(Conv3D(weight: w, bias: nil, stride: 1).winogradWeight != nil)
        #expect(Conv3D(weight: w, bias: nil, stride: 1, winograd: .never).winogradWeight == nil)
        // By size: 16 × 8 × 16 is 256 tiles, 15 × 8 × 16 too (tiles cut at the edge), 14 × 8 × 16
        // is 224.
        #expect(Conv3D.worthWinograd(outputSize: (16, 8, 16)))
        #expect(Conv3D.worthWinograd(outputSize: (15, 8, 16)))
        #expect(!Conv3D.worthWinograd(outputSize: (14, 8, 16)))
        #expect(!Conv3D.worthWinograd(outputSize: (8, 8, 8)))
    }

    /// By default the transform is made on the first output of 256 tiles or more, and kept.
    @Test func winogradRunsByDefaultFromTwoHundredFiftySixTilesAndMakesItsWeightOnce() {
        let w = randomTensor([16, 6, 3, 3, 3], seed: 46, scale: 0.3), b = randomTensor([16], seed: 47)
        let conv = Conv3D(weight: w, bias: b, stride: 1)
        let reference = Conv3D(weight: w, bias: b, stride: 1, winograd: .never)
        let small = randomTensor([1, 6, 8, 8, 8], seed: 48)
        #expect(conv(small).maxAbsDifference(reference(small)) == 0) // the same im2col path
        #expect(conv.winogradWeight?.isMade == false)
        let large = randomTensor([1, 6, 16, 8, 16], seed: 49)
        let fast = conv(large), expected = reference(large)
        #expect(conv.winogradWeight?.isMade == true)
        #expect(fast.maxAbsDifference(expected) > 0) // a different path…
        #expect(fast.maxAbsDifference(expected) < 1e-5 * max(1, expected.maxAbs)) // …the same result
        #expect(conv(large).maxAbsDifference(fast) == 0)
    }

    /// Odd and even sizes (tiles cut at the far edges), one block split over the threads and
    /// several blocks with a short last one, two inputs, bias and ReLU.
    @Test(arguments: [[3, 5, 7], [1, 1, 1], [2, 9, 2], [6, 8, 10], [10, 34, 40], [11, 33, 41]])
    func winogradMatchesTheDirectConvolution(_ size: [Int]) {
        let (d, h, w) = (size[0], size[1], size[2])
        let a = randomTensor([1, 4, d, h, w], seed: 31), b = randomTensor([1, 3, d, h, w], seed: 32)
        let weight = randomTensor([12, 7, 3, 3, 3], seed: 33, scale: 0.5), bias = randomTensor([12], seed: 34)
        let conv = Conv3D(weight: weight, bias: bias, stride: 1, winograd: .always)
        let ref = naiveConv3D(concatChannels([a, b]), weight: weight, bias: bias, stride: 1)
        #expect(conv([a, b]).maxAbsDifference(ref) < 1e-5 * max(1, ref.maxAbs))
        ref.reluInPlace()
        #expect(conv([a, b], relu: true).maxAbsDifference(ref) < 1e-5 * max(1, ref.maxAbs))
    }

    @Test func winogradEqualsImToColOnABatchOfWideChannels() {
        let x = randomTensor([2, 48, 12, 14, 16], seed: 35)
        let w = randomTensor([40, 48, 3, 3, 3], seed: 36, scale: 0.1), b = randomTensor([40], seed: 37)
        let fast = Conv3D(weight: w, bias: b, stride: 1, winograd: .always)(x, relu: true)
        let reference = Conv3D(weight: w, bias: b, stride: 1, winograd: .never)(x, relu: true)
        #expect(fast.maxAbsDifference(reference) < 1e-5 * max(1, reference.maxAbs))
        #expect(reference.maxAbs > 1)
    }

    /// The transforms at each SIMD level against the generic code, on a block of rows that
    /// starts mid-volume and a channel range that is not the whole input.
    @Test(arguments: TensorElementwiseTests.levels)
    func winogradTransformsMatchAtEverySimdLevel(_ level: Int32) {
        let x = randomTensor([1, 5, 7, 6, 37], seed: 38)
        var g = mn_conv3d_geometry(
            in_c: 5, in_d: 7, in_h: 6, in_w: 37, out_d: 7, out_h: 6, out_w: 37, kernel: 3, stride: 1, pad: 1)
        let (r0, r1, tiles) = (3, 9, 6 * 19)
        let row = Conv3D.rowFloats(tiles) // 128: rows padded past the 114 tiles
        let v = randomTensor([64, 6, row], seed: 50), reference = Tensor(zeros: [64, 6, row])
        let before = v.copy()
        mn_winograd3d_input_at(level, &g, x.data, Int64(r0), Int64(r1), 1, 4, v.data, 6, 2)
        mn_winograd3d_input_at(0, &g, x.data, Int64(r0), Int64(r1), 1, 4, reference.data, 6, 2)
        // The channels given (rows 3…5) match the generic code, with zeros past the tiles; the
        // other rows are left as they were.
        var (different, padding, touched) = (0, 0, 0)
        for xi in 0..<64 {
            for c in 0..<6 {
                for j in 0..<row {
                    let i = (xi * 6 + c) * row + j
                    if (3..<6).contains(c) {
                        if abs(v[i] - reference[i]) > 1e-6 * max(1, abs(reference[i])) { different += 1 }
                        if j >= tiles && v[i] != 0 { padding += 1 }
                    } else if v[i] != before[i] {
                        touched += 1
                    }
                }
            }
        }
        #expect(different == 0 && padding == 0 && touched == 0)
        #expect(reference.maxAbs > 0)

        let m = randomTensor([64, 3, row], seed: 39), bias = randomTensor([3], seed: 40)
        let y = Tensor(zeros: [3, 7, 6, 37]), yReference = Tensor(zeros: [3, 7, 6, 37])
        mn_winograd3d_output_at(level, &g, m.data, Int64(r0), Int64(r1), 1, 3, 3, bias.data, 1, y.data)
        mn_winograd3d_output_at(0, &g, m.data, Int64(r0), Int64(r1), 1, 3, 3, bias.data, 1, yReference.data)
        #expect(y.maxAbsDifference(yReference) <= 1e-6 * yReference.maxAbs)
        #expect(yReference.maxAbs > 0)
    }

    /// The engine's kernel for the 64 products, at each SIMD level, against a double-precision
    /// product: output channels that are not a multiple of four, a tile count that is not a
    /// multiple of 16 (rows padded to 48), on a range of frequencies.
    @Test(arguments: TensorElementwiseTests.levels)
    func winogradProductsMatchAtEverySimdLevel(_ level: Int32) {
        let (cout, cin, tiles) = (7, 19, 37)
        let row = Conv3D.rowFloats(tiles)
        let u = randomTensor([64, cout, cin], seed: 44), v = randomTensor([64, cin, row], seed: 45)
        let m = Tensor(zeros: [64, cout, row])
        mn_winograd3d_multiply_at(level, u.data, v.data, m.data, Int64(cout), Int64(cin), Int64(tiles), 3, 61)
        var worst: Double = 0
        for xi in 0..<64 {
            for o in 0..<cout {
                for j in 0..<row {
                    var sum: Double = 0
                    for c in 0..<cin {
                        sum += Double(u[(xi * cout + o) * cin + c]) * Double(v[(xi * cin + c) * row + j])
                    }
                    let expected = (3..<61).contains(xi) ? sum : 0 // untouched outside the range
                    worst = max(worst, abs(Double(m[(xi * cout + o) * row + j]) - expected))
                }
            }
        }
        #expect(worst < 1e-5)
    }
}
