import Foundation
import ModelPackage
import NNMamba
import TestSupport
import Testing
import Volume

@testable import Pipeline

/// The Volume ↔ Tensor adapter (docs/inference.md): identity on an already-prepared volume, exact
/// geometry round trips, landmarks in patient space, classification.
@Suite struct InferencePipelineTests {
    static var normalizations: [[String: Any]] {
        [
            ["kind": "none"],
            ["kind": "zscore"],
            ["kind": "ct", "clip": [-1.5, 2.0], "mean": 0.25, "std": 0.8]
        ]
    }

    /// A canonical volume at the target spacing whose size is the patch: pre-processing must hand
    /// the engine exactly the normalised voxels and move nothing.
    @Test(arguments: 0..<3)
    func preparedTensorOfAnAlreadyPreparedVolumeIsTheNormalisedInput(index: Int) throws {
        let (input, volumes) = try InferenceFixtures.goldenSegmentationInput()
        let json = TestModelPackage.goldenSegmentation(normalization: Self.normalizations[index]).manifest
        let pipeline = InferencePipeline(manifest: try InferenceFixtures.manifest(json), network: IdentityNetwork())
        let prepared = try pipeline.prepare(volumes)
        let expected: Tensor =
            switch index {
            case 0: input
            case 1: IntensityNormalization.zScore(nonZeroMask: false).apply(input)
            default: IntensityNormalization.ct(lower: -1.5, upper: 2, mean: 0.25, std: 0.8).apply(input)
            }
        #expect(prepared.tensor.shape == input.shape)
        #expect(prepared.tensor.values == expected.values)
        let record = prepared.record
        #expect(record.padded == volumes[0].geometry && record.resampled == record.source && record.crop == nil)
        #expect(record.padding == Padding(from: [32, 16, 32], to: [32, 16, 32]))
    }

    /// The golden `seg` weights through the whole pipeline: labels equal the argmax of the
    /// PyTorch reference wherever its top two classes differ by more than 1e-3, and the argmax of
    /// a direct engine call wherever that is not a near-tie.
    @Test func labelsOfAnAlreadyPreparedVolumeAreTheEngineArgmax() throws {
        let (input, volumes) = try InferenceFixtures.goldenSegmentationInput()
        let dir = TemporaryDirectory("model")
        let package = try ModelPackage(directory: TestModelPackage.goldenSegmentation().write(to: dir.path))
        let pipeline = try InferencePipeline(package: package)
        let result = try pipeline.run(volumes)
        guard case .segmentation(let labels) = result.output else {
            Issue.record("not a segmentation")
            return
        }
        #expect(labels.geometry == volumes[0].geometry)

        let reference = try SafeTensorsFile(path: TestModelPackage.goldenRoot + "/seg/output.safetensors").tensor(
            "output")
        let direct = pipeline.network.forward(input)
        let referenceAgreement = Self.agreement(labels.voxels, reference, margin: 1e-3)
        let directAgreement = Self.agreement(labels.voxels, direct, margin: 1e-5)
        #expect(referenceAgreement.considered > input.voxelCount / 2)
        #expect(referenceAgreement.disagreeing == 0)
        #expect(directAgreement.disagreeing == 0)
        #expect(
            result.timings.map(\.step) == [
                .reorientation, .crop, .resampling, .normalization, .padding,
                .network, .postprocessing
            ])
    }

    /// The same voxels on a grid whose axes are permuted and flipped (i → −z, j → +x, k → −y):
    /// the network sees the identical tensor and the labels come back permuted, exactly.
    @Test func reorientationOnlyPermutesTheLabelsExactly() throws {
        let (_, volumes) = try InferenceFixtures.goldenSegmentationInput()
        let g = volumes[0].geometry
        let permuted = Geometry(
            size: SIMD3(g.size.z, g.size.x, g.size.y), spacing: g.spacing,
            origin: g.patientPoint(ofIndex: SIMD3(0, Double(g.size.y - 1), Double(g.size.z - 1))),
            direction: Matrix3(columns: SIMD3(0, 0, -1), SIMD3(1, 0, 0), SIMD3(0, -1, 0)))
        #expect(permuted.canonical == g)
        let dir = TemporaryDirectory("model")
        let pipeline = try InferencePipeline(
            package: ModelPackage(
                directory: TestModelPackage.goldenSegmentation().write(to: dir.path)))
        guard case .segmentation(let canonical) = try pipeline.run(volumes).output,
            case .segmentation(let labels) = try pipeline.run(
                volumes.map { $0.resampled(to: permuted, interpolation: .nearest) }
            ).output
        else {
            Issue.record("not a segmentation")
            return
        }
        #expect(labels.geometry == permuted)
        #expect(labels.voxels == canonical.resampled(to: permuted, interpolation: .nearest).voxels)
    }

    /// Voxels where `labels` differ from the argmax of `scores` ([1, K, D, H, W]), counted where
    /// the top two scores differ by more than `margin`.
    static func agreement(_ labels: [Float], _ scores: Tensor, margin: Float) -> (considered: Int, disagreeing: Int) {
        let k = scores.shape[1], v = scores.voxelCount
        let argmax = argmaxChannels(scores)
        var considered = 0, disagreeing = 0
        for i in 0..<v {
            let sorted = (0..<k).map { scores[$0 * v + i] }.sorted(by: >)
            guard sorted[0] - sorted[1] > margin else { continue }
            considered += 1
            if labels[i] != Float(argmax[i]) { disagreeing += 1 }
        }
        return (considered, disagreeing)
    }

    /// Three ellipsoids in patient space, labels 1…3.
    static func truth(_ p: SIMD3<Double>, centre c: SIMD3<Double>) -> Int {
        func inside(_ centre: SIMD3<Double>, _ radii: SIMD3<Double>) -> Bool {
            let q = (p - centre) / radii
            return (q * q).sum() <= 1
        }
        if inside(c + SIMD3(-7, -3, 2), SIMD3(7, 9, 8)) { return 1 }
        if inside(c + SIMD3(8, 2, -3), SIMD3(6, 7, 10)) { return 2 }
        if inside(c + SIMD3(2, 9, 9), SIMD3(5, 5, 6)) { return 3 }
        return 0
    }

    /// An oblique, non-isotropic label map through an "identity" network (indicator images in,
    /// near one-hot scores out) comes back on the exact source grid with the same labels except
    /// at boundaries: ≥ 99 % of voxels agree and each label's Dice is ≥ 0.97.
    @Test(arguments: [false, true])
    func labelMapSurvivesTheGeometryRoundTrip(cropToNonZero: Bool) throws {
        let grid = InferenceFixtures.obliqueGrid()
        let centre = InferenceFixtures.centre(grid)
        let truth = InferenceFixtures.volume(grid) { Float(Self.truth($0, centre: centre)) }
        let indicators = (1...3).map { label in
            Volume(geometry: grid, voxels: truth.voxels.map { $0 == Float(label) ? 1 : 0 })
        }
        var json = TestModelPackage.manifest(
            task: "segmentation", architecture: "nnMambaSeg", inChannels: 3, channels: 16,
            blocks: 2, outputs: 4, normalization: ["kind": "none"],
            targetSpacing: [1.3, 1.2, 1.5], patchSize: [16, 32, 16], mirrorAxes: [2, 3, 4])
        json["name"] = "round-trip"
        var options = InferencePipeline.Options()
        options.cropToNonZero = cropToNonZero
        let pipeline = InferencePipeline(
            manifest: try InferenceFixtures.manifest(json), network: IndicatorNetwork(),
            options: options)
        let result = try pipeline.run(indicators)
        guard case .segmentation(let labels) = result.output else {
            Issue.record("not a segmentation")
            return
        }

        #expect(labels.geometry == grid)
        #expect(result.record.canonical != grid, "the fixture must need reorienting")
        #expect((result.record.crop != nil) == cropToNonZero)
        let agree = zip(labels.voxels, truth.voxels).filter { $0 == $1 }.count
        let agreement = Double(agree) / Double(grid.voxelCount)
        #expect(agreement >= 0.99, "voxel agreement \(agreement)")
        for label in 1...3 {
            let l = Float(label)
            let both = zip(labels.voxels, truth.voxels).filter { $0 == l && $1 == l }.count
            let sizes = labels.voxels.filter { $0 == l }.count + truth.voxels.filter { $0 == l }.count
            let dice = 2 * Double(both) / Double(sizes)
            #expect(dice >= 0.97, "label \(label): Dice \(dice)")
        }
    }

    /// Heat-map peaks placed at known patient points come back within half a voxel (of the
    /// target spacing, along each resampled axis) through reorientation and resampling.
    @Test func landmarkPeaksComeBackAtTheirPatientPositions() throws {
        let grid = InferenceFixtures.obliqueGrid()
        let centre = InferenceFixtures.centre(grid)
        let targets = [centre + SIMD3(-6.3, 4.1, 2.7), centre + SIMD3(5.2, -7.7, -3.4)]
        let heatmaps = targets.map { target in
            InferenceFixtures.volume(grid) { p in
                let d = p - target
                return Float(exp(-(d * d).sum() / (2 * 4.0 * 4.0)))
            }
        }
        let json = TestModelPackage.manifest(
            task: "landmarks", architecture: "nnMambaSeg", inChannels: 2, channels: 16,
            blocks: 2, outputs: 2, normalization: ["kind": "none"],
            targetSpacing: [1.5, 1.5, 1.5], patchSize: [16, 16, 16])
        let pipeline = InferencePipeline(manifest: try InferenceFixtures.manifest(json), network: IdentityNetwork())
        let result = try pipeline.run(heatmaps)
        guard case .landmarks(let found) = result.output else {
            Issue.record("not landmarks")
            return
        }
        #expect(found.keys.sorted() == ["L0", "L1"])
        let resampled = result.record.resampled
        for (channel, target) in targets.enumerated() {
            let landmark = try #require(found["L\(channel)"])
            // The error along each resampled axis, in voxels of that axis.
            let error = resampled.direction.transposed * (landmark.patient - target) / resampled.spacing
            #expect(largest(error) <= 0.5 + 1e-9, "L\(channel): \(error) voxels")
            let back = grid.continuousIndex(ofPatientPoint: landmark.patient)
            #expect(largest(back - landmark.index) < 1e-9)
            #expect(landmark.voxel == SIMD3(Int(back.x.rounded()), Int(back.y.rounded()), Int(back.z.rounded())))
        }
    }

    /// The golden `cls` encoder on its input as a volume: the whole volume, unpadded, gives the
    /// reference logit's probability.
    @Test func classificationGivesTheReferenceProbability() throws {
        let input = try SafeTensorsFile(path: TestModelPackage.goldenRoot + "/cls/input.safetensors").tensor("input")
        let logit = try SafeTensorsFile(path: TestModelPackage.goldenRoot + "/cls/output.safetensors").tensor("output")[
            0]
        let grid = Geometry(
            size: SIMD3(input.shape[4], input.shape[3], input.shape[2]), spacing: SIMD3(1, 1, 1),
            origin: .zero, direction: .identity)
        let volume = Volume(geometry: grid, voxels: input.values)
        let dir = TemporaryDirectory("model")
        let package = try ModelPackage(directory: TestModelPackage.goldenClassification().write(to: dir.path))
        let result = try InferencePipeline(package: package).run([volume])
        guard case .classification(let score) = result.output else {
            Issue.record("not a classification")
            return
        }
        let expected = 1 / (1 + exp(-Double(logit)))
        #expect(abs(score.probability - expected) < 1e-4)
        #expect(score.positive == (expected >= 0.5))
        #expect(abs(score.logit - Double(logit)) < 1e-3)
        #expect(result.record.padded == grid)

        // With temperature scaling in the package the same logit is reported as σ(z / T), and the
        // threshold applies to that calibrated probability.
        let temperature = 3.0
        var calibrated = TestModelPackage.goldenClassification()
        var classification = calibrated.manifest["classification"] as! [String: Any]
        classification["calibration"] = ["method": "temperature", "temperature": temperature, "fitted_on": "test"]
        let softened = 1 / (1 + exp(-score.logit / temperature))
        classification["threshold"] = (softened + score.probability) / 2 // between the two
        calibrated.manifest["classification"] = classification
        let calibratedDir = TemporaryDirectory("model")
        let calibratedPackage = try ModelPackage(directory: calibrated.write(to: calibratedDir.path))
        #expect(calibratedPackage.manifest.classification?.calibration?.temperature == temperature)
        guard case .classification(let scaled) = try InferencePipeline(package: calibratedPackage).run([volume]).output
        else {
            Issue.record("not a classification")
            return
        }
        #expect(scaled.logit == score.logit)
        #expect(abs(scaled.probability - softened) < 1e-12)
        #expect(scaled.positive == (softened >= (softened + score.probability) / 2))
        #expect(scaled.positive != score.positive || abs(score.logit) < 1e-6)
    }

    /// MR z-score over non-zero voxels after a crop and a spline resampling: the background stays
    /// exactly 0 (the mask is resampled nearest, so ringing cannot leak) and the masked voxels
    /// have mean 0 and standard deviation 1.
    @Test func zScoreOverNonZeroVoxelsKeepsTheBackgroundZero() throws {
        let grid = Geometry(size: SIMD3(24, 22, 20), spacing: SIMD3(1, 1, 1.2), origin: .zero, direction: .identity)
        let centre = InferenceFixtures.centre(grid)
        let brain = InferenceFixtures.volume(grid) { p in
            let d = p - centre
            return (d * d).sum() <= 49 ? Float(300 + 40 * sin(p.x) + 25 * cos(0.7 * p.y + p.z)) : 0
        }
        let json = TestModelPackage.manifest(
            task: "segmentation", architecture: "nnMambaSeg", inChannels: 1, channels: 16,
            blocks: 2, outputs: 2, normalization: ["kind": "zscore", "nonzero_mask": true],
            targetSpacing: [0.8, 0.9, 1.1], patchSize: [16, 16, 16])
        var options = InferencePipeline.Options()
        options.cropToNonZero = true
        let pipeline = InferencePipeline(
            manifest: try InferenceFixtures.manifest(json), network: IdentityNetwork(),
            options: options)
        let prepared = try pipeline.prepare([brain])
        let record = prepared.record
        #expect(record.crop?.lower == SIMD3(5, 4, 4) && record.crop?.upper == SIMD3(19, 18, 16))
        // 0 beyond the sphere's surface, non-zero inside; statistics over the non-zero voxels.
        let r = record.resampled
        var masked: [Double] = []
        for k in 0..<r.size.z {
            for j in 0..<r.size.y {
                for i in 0..<r.size.x {
                    let p = r.patientPoint(ofIndex: SIMD3(Double(i), Double(j), Double(k)))
                    let distance = ((p - centre) * (p - centre)).sum().squareRoot()
                    let t = record.padded.continuousIndex(ofPatientPoint: p)
                    let value = prepared.tensor[
                        record.padded.offset(Int(t.x.rounded()), Int(t.y.rounded()), Int(t.z.rounded()))]
                    if distance > 7.8 { #expect(value == 0, "background \(value) at \(distance) mm") }
                    if distance < 6.2 { #expect(value != 0, "foreground 0 at \(distance) mm") }
                    if value != 0 { masked.append(Double(value)) }
                }
            }
        }
        let mean = masked.reduce(0, +) / Double(masked.count)
        let std = (masked.map { ($0 - mean) * ($0 - mean) }.reduce(0, +) / Double(masked.count)).squareRoot()
        #expect(abs(mean) < 1e-4 && abs(std - 1) < 1e-4, "mean \(mean) std \(std)")
        #expect(prepared.tensor.values.filter { $0 != 0 }.count == masked.count, "non-zero values in the padding")
    }

    @Test func inputsOnDifferentGridsAreRejectedNamingTheInput() throws {
        let (_, volumes) = try InferenceFixtures.goldenSegmentationInput()
        var shifted = volumes
        shifted[2].geometry.origin.x += 0.5
        let json = TestModelPackage.goldenSegmentation().manifest
        let pipeline = InferencePipeline(manifest: try InferenceFixtures.manifest(json), network: IdentityNetwork())
        let error = #expect(throws: InferenceError.self) { try pipeline.prepare(shifted) }
        #expect(error?.step == .input && error?.field == "inputs[2]")
        let missing = #expect(throws: InferenceError.self) { try pipeline.prepare(Array(volumes.prefix(3))) }
        #expect(missing?.field == "inputs")
    }

    @Test func mismatchedWeightsAreRejectedNamingTheKey() throws {
        var package = TestModelPackage.syntheticSegmentation(patchSize: [16, 16, 16])
        package.weights?.removeValue(forKey: "conv7.conv.3.bias")
        let dir = TemporaryDirectory("model")
        let error = #expect(throws: InferenceError.self) {
            try InferencePipeline(package: ModelPackage(directory: package.write(to: dir.path)))
        }
        #expect(error?.step == .loading && error?.field == "conv7.conv.3.bias")
    }
}
