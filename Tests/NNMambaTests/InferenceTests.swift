import Testing

@testable import NNMamba

@Suite struct InferenceTests {
    @Test func zScoreWithNonZeroMaskIgnoresBackground() {
        let x = Tensor(shape: [1, 1, 1, 1, 4], values: [0, 1, 2, 3])
        let y = IntensityNormalization.zScore(nonZeroMask: true).apply(x)
        // mean 2, std √(2/3) over the three non-zero voxels; background stays 0.
        let s = Float((2.0 / 3).squareRoot())
        #expect(y[0] == 0)
        #expect(abs(y[1] + 1 / s) < 1e-5 && abs(y[2]) < 1e-6 && abs(y[3] - 1 / s) < 1e-5)
        let all = IntensityNormalization.zScore(nonZeroMask: false).apply(x)
        #expect(abs(all[0] + 1.5 / Float(1.25.squareRoot())) < 1e-5)
    }

    @Test func ctNormalisationClipsThenStandardises() {
        let x = Tensor(shape: [1, 1, 1, 1, 3], values: [-2000, 40, 3000])
        let y = IntensityNormalization.ct(lower: -1000, upper: 1000, mean: 40, std: 100).apply(x)
        #expect(zip(y.values, [-10.4, 0, 9.6] as [Float]).allSatisfy { abs($0 - $1) < 1e-5 })
    }

    @Test func paddingToMultipleOf16RoundTrips() {
        let x = randomTensor([1, 2, 17, 16, 5], seed: 50)
        let p = Padding(toMultipleOf: 16, spatial: [17, 16, 5])
        #expect(p.before == [7, 0, 5] && p.after == [8, 0, 6])
        let padded = p.pad(x)
        #expect(padded.shape == [1, 2, 32, 16, 16])
        #expect(p.crop(padded).values == x.values)
        #expect(
            globalAveragePool(padded)[0] * Float(32 * 16 * 16) - globalAveragePool(x)[0] * Float(17 * 16 * 5) < 1e-3)
    }

    @Test func windowStartsFollowNNUNet() {
        #expect(SlidingWindow.starts(imageSize: 128, patchSize: 128, stepFraction: 0.5) == [0])
        // ⌈72/64⌉ + 1 windows
        #expect(SlidingWindow.starts(imageSize: 200, patchSize: 128, stepFraction: 0.5) == [0, 36, 72])
        #expect(SlidingWindow.starts(imageSize: 300, patchSize: 128, stepFraction: 0.5) == [0, 57, 115, 172])
    }

    @Test func gaussianPeaksAtTheCentreWithSigmaPatchOver8() {
        let g = SlidingWindow.gaussian([16, 8, 8])
        let at = { (z: Int, y: Int, x: Int) in g[(z * 8 + y) * 8 + x] }
        #expect(at(8, 4, 4) == 1)
        #expect(g.allSatisfy { $0 > 0 && $0 <= 1 })
        // One σ (2 voxels along D) from the centre: e^(-1/2).
        #expect(abs(at(10, 4, 4) - Float(0.6065306597)) < 1e-6)
        #expect(at(7, 4, 4) == at(9, 4, 4))
    }

    @Test(arguments: [[], [0], [0, 1, 2]])
    func slidingWindowOfAPointwiseNetworkEqualsItsSoftmax(_ mirror: [Int]) {
        // A position-independent network gives the same prediction in every window and under
        // every flip, so Gaussian aggregation and mirroring must reproduce its softmax exactly.
        let x = randomTensor([1, 1, 20, 13, 9], seed: 51)
        let net: (Tensor) -> Tensor = { t in
            Tensor(shape: [1, 3] + Array(t.shape[2...])) { i in
                let v = t.voxelCount
                return t[i % v] * Float(i / v + 1)
            }
        }
        let sw = SlidingWindow(patch: [8, 8, 16], stepFraction: 0.5, mirrorAxes: mirror)
        let y = sw.predict(x, network: net)
        #expect(y.shape == [1, 3, 20, 13, 9])
        let ref = softmaxChannels(net(x))
        #expect(y.maxAbsDifference(ref) < 1e-5)
    }

    @Test(arguments: [[], [0, 2]])
    func slidingWindowWithoutSoftmaxAveragesRawScores(_ mirror: [Int]) {
        // Landmark heat-maps: the same pointwise network, aggregated without a softmax, must come
        // back as its raw output (Gaussian weights and flips cancel for a pointwise network).
        let x = randomTensor([1, 1, 20, 13, 9], seed: 52)
        let net: (Tensor) -> Tensor = { t in
            Tensor(shape: [1, 2] + Array(t.shape[2...])) { i in t[i % t.voxelCount] * Float(i / t.voxelCount + 1) }
        }
        let y = SlidingWindow(patch: [8, 8, 16], mirrorAxes: mirror).predict(x, softmax: false, network: net)
        #expect(y.maxAbsDifference(net(x)) < 1e-5)
    }

    @Test func mirroringAveragesFlippedPredictions() {
        // A network that reports the W coordinate: mirroring over W averages w and W−1−w.
        let x = Tensor(zeros: [1, 1, 1, 1, 4])
        let net: (Tensor) -> Tensor = { t in
            Tensor(shape: [1, 2, 1, 1, 4]) { i in i < 4 ? Float(i % 4) : 0 }
        }
        let plain = SlidingWindow(patch: [1, 1, 4]).predict(x, network: net)
        let mirrored = SlidingWindow(patch: [1, 1, 4], mirrorAxes: [2]).predict(x, network: net)
        let p = { (v: Float) in 1 / (1 + expf(-v)) } // softmax of (v, 0)
        #expect(abs(plain[1] - p(1)) < 1e-6)
        #expect(abs(mirrored[1] - (p(1) + p(2)) / 2) < 1e-6)
    }

    @Test func argmaxBreaksTiesTowardsTheLowestClass() {
        let x = Tensor(shape: [1, 3, 1, 1, 3], values: [0, 1, 2, 0, 1, 5, 0, 3, 5])
        #expect(argmaxChannels(x) == [0, 2, 1])
    }

    @Test func landmarksAtPeaksWithOptionalCentroidRefinement() {
        let hm = Tensor(zeros: [1, 2, 4, 5, 6])
        let v = 4 * 5 * 6
        hm[(2 * 5 + 3) * 6 + 1] = 4
        hm[(2 * 5 + 3) * 6 + 2] = 2 // pulls the centroid towards w = 2
        hm[v + 0] = 1 // channel 1 peak at the corner
        let plain = decodeLandmarks(hm)[0]
        #expect(plain[0].voxel == [2, 3, 1] && plain[0].position == [2, 3, 1] && plain[0].peak == 4)
        #expect(plain[1].voxel == [0, 0, 0])
        let refined = decodeLandmarks(hm, refinement: .centroid)[0]
        #expect(refined[0].voxel == [2, 3, 1])
        #expect(abs(refined[0].position[2] - 4.0 / 3) < 1e-12 && refined[0].position[0] == 2)
    }

    /// A log-Gaussian heat-map (what a spatial-softmax loss trains) peaking between voxels: the
    /// parabolic refinement finds the true sub-voxel position; the centroid stays near the peak
    /// voxel because the values there are almost flat.
    @Test func parabolicRefinementFindsTheVertexOfALogGaussian() {
        let (d, h, w) = (9, 10, 11)
        let hm = Tensor(zeros: [1, 1, d, h, w])
        let truth = [4.3, 5.0, 6.45]
        let sigma = 2.0
        for z in 0..<d {
            for y in 0..<h {
                for x in 0..<w {
                    let r2 = pow(Double(z) - truth[0], 2) + pow(Double(y) - truth[1], 2) + pow(Double(x) - truth[2], 2)
                    hm[(z * h + y) * w + x] = Float(max(6 - r2 / (2 * sigma * sigma), 0))
                }
            }
        }
        let peak = decodeLandmarks(hm)[0][0]
        #expect(peak.voxel == [4, 5, 6])
        let parabolic = decodeLandmarks(hm, refinement: .parabolic)[0][0]
        #expect(parabolic.voxel == [4, 5, 6])
        for axis in 0..<3 { #expect(abs(parabolic.position[axis] - truth[axis]) < 1e-5, "axis \(axis)") }
        let centroid = decodeLandmarks(hm, refinement: .centroid)[0][0]
        #expect(abs(centroid.position[2] - truth[2]) > 0.3)
        // On a border, or without a concave peak, the axis keeps the peak voxel.
        let edge = Tensor(zeros: [1, 1, 1, 1, 3])
        edge[0] = 2
        edge[1] = 1
        #expect(decodeLandmarks(edge, refinement: .parabolic)[0][0].position == [0, 0, 0])
        let flat = Tensor(shape: [1, 1, 1, 1, 3], values: [1, 1, 1])
        #expect(decodeLandmarks(flat, refinement: .parabolic)[0][0].position == [0, 0, 0])
    }

    @Test func classificationProbabilityIsTheSigmoidOfTheLogit() {
        #expect(BinaryClassification(logit: 0).probability == 0.5)
        #expect(BinaryClassification(logit: 0).isPositive())
        #expect(!BinaryClassification(logit: -0.1).isPositive())
        #expect(abs(BinaryClassification(logit: 2).probability - 0.880797) < 1e-6)
        // Confident logits keep their order (a Float sigmoid gives 1 for both).
        let (high, higher) = (BinaryClassification(logit: 20).probability, BinaryClassification(logit: 25).probability)
        #expect(high < higher && higher < 1)
        #expect(BinaryClassification(logit: -100).probability > 0)
    }
}

#if canImport(Glibc)
    import Glibc
#endif
