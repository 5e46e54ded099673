import DICOM
import Foundation
import ModelPackage
import NNMamba
import SampleGenerator
import TestSupport
import Testing
import Volume

@testable import Pipeline

/// Packages made from official checkpoints (docs/official-input-layouts.md): for each of the
/// three checkpoint formats the tensor the node builds from a DICOM series equals, within 1e-5,
/// the tensor the official code builds from dcm2niix's NIfTI of the same series
/// (`Tools/reference/official_pipeline.py`, which runs the official steps with the libraries they
/// use), and the outputs come back to the same place. The geometries: an axial CT (5 mm slices,
/// so nnU-Net resamples them on their own), a sagittal and a double-oblique MR, each also as a
/// 3-D acquisition (which dcm2niix stores reoriented).
@Suite struct OfficialRecipeTests {
    enum Acquisition: String, CaseIterable, Sendable {
        case axialCT, sagittalMR, obliqueMR
        /// MR 3-D acquisitions (MPRAGE), which dcm2niix stores reoriented to the nearest RAS axes.
        case sagittalMR3D, obliqueMR3D

        var isMR: Bool { self != .axialCT }
        var isSagittal: Bool { self == .sagittalMR || self == .sagittalMR3D }
        var is3D: Bool { self == .sagittalMR3D || self == .obliqueMR3D }
    }

    /// A written series, its assembled volume and dcm2niix's NIfTI of it.
    struct Case {
        var dir: TemporaryDirectory
        var volume: Volume
        var nifti: String
    }

    static func make(_ acquisition: Acquisition) throws -> Case {
        let dir = TemporaryDirectory("official-\(acquisition.rawValue)")
        var g = SeriesGenerator()
        switch acquisition {
        case .axialCT:
            // 300 columns: LFC's resize to 128 shrinks that axis, with its anti-aliasing (σ 0.67 voxel).
            (g.rows, g.columns, g.slices) = (44, 300, 18)
            g.pixelSpacing = (row: 1.6, column: 1.6)
            g.sliceSpacing = 5
            g.phantom = .abdomenCT(size: 70)
        case .sagittalMR, .obliqueMR, .sagittalMR3D, .obliqueMR3D:
            g.modality = .mr
            g.signed = false
            g.bitsStored = 12
            (g.rows, g.columns, g.slices) = (40, 36, 22)
            g.pixelSpacing = (row: 3.5, column: 3.5)
            g.sliceSpacing = 4
            g.phantom = .headMR(size: 150)
            g.mrSequence = acquisition.is3D ? .t1 : .t2
            if acquisition.isSagittal {
                (g.rowDirection, g.columnDirection) = (SIMD3(0, 1, 0), SIMD3(0, 0, -1))
            } else {
                // Axial turned 15° about x, then 20° about y: no axis along a patient axis.
                let (a, b) = (15.0 * .pi / 180, 20.0 * .pi / 180)
                let rx = Matrix3(columns: SIMD3(1, 0, 0), SIMD3(0, cos(a), sin(a)), SIMD3(0, -sin(a), cos(a)))
                let ry = Matrix3(columns: SIMD3(cos(b), 0, -sin(b)), SIMD3(0, 1, 0), SIMD3(sin(b), 0, cos(b)))
                (g.rowDirection, g.columnDirection) = (ry * (rx * SIMD3(1, 0, 0)), ry * (rx * SIMD3(0, 1, 0)))
            }
        }
        try g.write(to: dir.file("dicom"))
        let series = try #require(try Series.scan(directory: dir.file("dicom")).first)
        let volume = try series.assemble().volume
        #expect(volume.isMR3DAcquisition == acquisition.is3D)
        let output = try dir.subdirectory("nifti")
        try ExternalTool.check("dcm2niix", ["-z", "n", "-b", "n", "-f", "series", "-o", output, dir.file("dicom")])
        let nifti = output + "/series.nii"
        // The node's stored grid is the grid of dcm2niix's file (float32 in the header).
        let file = try NIfTI.read(contentsOf: nifti).geometry
        let stored = volume.geometry.storedByDcm2niix(mr3DAcquisition: volume.isMR3DAcquisition)
        // A 3-D acquisition is not stored with its rows reversed only: dcm2niix moved its axes.
        #expect((stored != volume.geometry.rowsReversed) == acquisition.is3D, "\(acquisition)")
        #expect(file.size == stored.size, "\(acquisition): \(file.size) vs \(stored.size)")
        let origin = file.origin - stored.origin
        #expect(max(abs(origin.x), abs(origin.y), abs(origin.z)) < 1e-3, "\(acquisition): origin \(origin)")
        for a in 0..<3 {
            let d = file.direction[column: a] - stored.direction[column: a]
            #expect(max(abs(d.x), abs(d.y), abs(d.z)) < 1e-4, "\(acquisition): axis \(a)")
        }
        return Case(dir: dir, volume: volume, nifti: nifti)
    }

    // MARK: The reference pipeline and its files

    static let script = VenvPython.packageRoot + "/Tools/reference/official_pipeline.py"

    static func reference(_ arguments: [String]) throws {
        let result = try ExternalTool.run(VenvPython.executable, [script] + arguments)
        guard result.status == 0 else {
            throw ExternalTool.Failure(tool: script, arguments: arguments, result: result)
        }
    }

    /// `PREFIX.f32` (float32, C order) and `PREFIX.json` as the reference writes them.
    static func readTensor(_ prefix: String) throws -> (shape: [Int], values: [Float], json: [String: Any]) {
        let json = try #require(
            try JSONSerialization.jsonObject(with: Data(contentsOf: URL(fileURLWithPath: prefix + ".json")))
                as? [String: Any])
        let shape = try #require(json["shape"] as? [Int])
        let data = try Data(contentsOf: URL(fileURLWithPath: prefix + ".f32"))
        let values = data.withUnsafeBytes { Array($0.bindMemory(to: Float.self)) }
        #expect(values.count == shape.reduce(1, *))
        return (shape, values, json)
    }

    static func writeTensor(_ prefix: String, shape: [Int], values: UnsafeBufferPointer<Float>) throws {
        try Data(buffer: values).write(to: URL(fileURLWithPath: prefix + ".f32"))
        try JSONSerialization.data(withJSONObject: ["shape": shape]).write(to: URL(fileURLWithPath: prefix + ".json"))
    }

    /// Equal shapes (batch axis aside) and every value within `tolerance` · max(1, |reference|).
    static func matches(_ tensor: Tensor, _ reference: (shape: [Int], values: [Float]), tolerance: Float) -> Bool {
        guard Array(tensor.shape.dropFirst()) == reference.shape else { return false }
        for i in 0..<tensor.count
        where abs(tensor[i] - reference.values[i]) > tolerance * max(1, abs(reference.values[i])) {
            return false
        }
        return true
    }

    static func largestDifference(_ tensor: Tensor, _ reference: [Float]) -> Float {
        (0..<tensor.count).reduce(0) { max($0, abs(tensor[$1] - reference[$1])) }
    }

    /// The tensor `prepare` feeds the network, without the padding (given in (k, j, i) order,
    /// permuted with the axes).
    static func unpadded(_ prepared: InferencePipeline.PreparedInput, permutation: [Int]) -> Tensor {
        let padding = prepared.record.padding
        let x = prepared.tensor
        let before = permutation.map { padding.before[$0] }, after = permutation.map { padding.after[$0] }
        let size = (0..<3).map { x.shape[2 + $0] - before[$0] - after[$0] }
        let out = Tensor(zeros: [x.shape[0], x.shape[1]] + size)
        for c in 0..<x.shape[1] {
            for a in 0..<size[0] {
                for b in 0..<size[1] {
                    for d in 0..<size[2] {
                        out[((c * size[0] + a) * size[1] + b) * size[2] + d] =
                            x[
                                ((c * x.shape[2] + a + before[0]) * x.shape[3] + b + before[1]) * x.shape[4] + d
                                    + before[2]]
                    }
                }
            }
        }
        return out
    }

    // MARK: nnU-Net v1 segmentation

    /// Per acquisition: the normalisation (CT statistics for CT; z-score over the hole-filled
    /// mask for MR), the target spacing (x, y, z) and nnU-Net's transpose_forward.
    static func nnunetSettings(
        _ acquisition: Acquisition
    ) -> (
        normalization: [String: Any], plansScheme: String, target: [Double], transpose: [Int]
    ) {
        switch acquisition {
        case .axialCT:
            (["kind": "ct", "clip": [-150.0, 250.0], "mean": 40.0, "std": 60.0], "CT", [2.1, 1.9, 3.3], [0, 1, 2])
        case .sagittalMR, .sagittalMR3D:
            (["kind": "zscore", "nonzero_mask": true], "nonCT", [3.0, 4.2, 3.1], [2, 0, 1])
        case .obliqueMR, .obliqueMR3D:
            (["kind": "zscore", "nonzero_mask": true], "nonCT", [2.6, 3.4, 3.0], [0, 1, 2])
        }
    }

    static func nnunetManifest(_ acquisition: Acquisition, array: String = "sitk_kji") throws -> ModelManifest {
        let s = nnunetSettings(acquisition)
        var json = TestModelPackage.manifest(
            task: "segmentation", architecture: "nnMambaSeg", inChannels: 1, channels: 16, blocks: 1, outputs: 3,
            normalization: s.normalization, targetSpacing: s.target, patchSize: [32, 32, 32])
        json["format"] = "mambanode-model/2"
        json["input_layout"] = ["orientation": "as_stored_by_dcm2niix", "array": array]
        json["preprocessing"] = ["recipe": "nnunet_v1", "transpose_forward": s.transpose]
        return try InferenceFixtures.manifest(json)
    }

    /// The plans the reference reads: the same target spacing in the transposed (k, j, i) order,
    /// the same statistics.
    static func nnunetPlans(_ acquisition: Acquisition, into path: String) throws {
        let s = nnunetSettings(acquisition)
        let kji = [s.target[2], s.target[1], s.target[0]]
        var plans: [String: Any] = [
            "target_spacing": s.transpose.map { kji[$0] }, "transpose_forward": s.transpose,
            "normalization_schemes": [s.plansScheme],
            "use_mask_for_norm": [s.normalization["nonzero_mask"] as? Bool ?? false]
        ]
        if s.plansScheme == "CT" {
            let clip = s.normalization["clip"] as! [Double]
            plans["intensityproperties"] = [
                [
                    "mean": s.normalization["mean"]!, "sd": s.normalization["std"]!, "percentile_00_5": clip[0],
                    "percentile_99_5": clip[1]
                ]
            ]
        }
        try JSONSerialization.data(withJSONObject: plans).write(to: URL(fileURLWithPath: path))
    }

    /// Three class maps on the network's grid with boundaries everywhere: a constant, the
    /// normalised image and a smooth pattern.
    static func classMaps(for normalised: Tensor) -> Tensor {
        let (d, h, w) = (normalised.shape[2], normalised.shape[3], normalised.shape[4])
        let v = d * h * w
        let out = Tensor(zeros: [1, 3, d, h, w])
        for z in 0..<d {
            for y in 0..<h {
                for x in 0..<w {
                    let i = (z * h + y) * w + x
                    out[i] = 0.2
                    out[v + i] = normalised[i]
                    out[2 * v + i] = Float(0.8 * sin(0.37 * Double(z)) + 0.5 * cos(0.29 * Double(y) + 0.11 * Double(x)))
                }
            }
        }
        return out
    }

    @Test(arguments: Acquisition.allCases)
    func nnunetTensorAndLabelsAreTheOfficialOnes(acquisition: Acquisition) throws {
        let c = try Self.make(acquisition)
        let plans = c.dir.file("plans.json")
        try Self.nnunetPlans(acquisition, into: plans)
        let ref = c.dir.file("nnunet")
        try Self.reference(["nnunet-preprocess", "--image", c.nifti, "--plans", plans, "--out", ref])
        let expected = try Self.readTensor(ref)

        let manifest = try Self.nnunetManifest(acquisition)
        let pipeline = InferencePipeline(manifest: manifest, network: IdentityNetwork())
        let prepared = try pipeline.prepare([c.volume])
        let tensor = Self.unpadded(prepared, permutation: manifest.spatialPermutation)
        let sameShape = Array(tensor.shape.dropFirst()) == expected.shape
        let largest = sameShape ? Self.largestDifference(tensor, expected.values) : .nan
        let same = Self.matches(tensor, (expected.shape, expected.values), tolerance: 1e-5)
        #expect(same, "\(acquisition): shape \(tensor.shape) vs \(expected.shape), largest difference \(largest)")
        if acquisition == .axialCT {
            // The 5 mm slices were resampled on their own, as the reference did.
            #expect(expected.json["do_separate_z"] as? Bool == true)
        }

        // The same class maps through both exports: labels identical on every voxel.
        let normalised = try pipeline.normalise([c.volume])
        let maps = Self.classMaps(for: normalised.tensor)
        let transposed = permutingSpatialAxes(maps, manifest.spatialPermutation)
        try Self.writeTensor(
            c.dir.file("maps"), shape: Array(transposed.shape.dropFirst()),
            values: UnsafeBufferPointer(start: transposed.data, count: transposed.count))
        try Self.reference([
            "nnunet-export", "--probabilities", c.dir.file("maps"), "--properties", ref + ".json", "--out",
            c.dir.file("labels")
        ])
        let official = try Self.readTensor(c.dir.file("labels"))
        let record = prepared.record
        let labels = pipeline.nnunetLabelMap(maps, record: record, like: InputIdentity(c.volume))
        #expect(labels.geometry == c.volume.geometry)
        // The reference's labels are in the stored file's (k, j, i) order: the node's stored grid.
        let stored = labels.resampled(to: record.canonical, interpolation: .nearest)
        #expect(official.shape == [record.canonical.size.z, record.canonical.size.y, record.canonical.size.x])
        let differing = zip(stored.voxels, official.values).count { $0 != $1 }
        #expect(differing == 0, "\(acquisition): \(differing) of \(official.values.count) labels differ")
        let classes = Set(official.values).count
        #expect(classes == 3, "the maps should give every class somewhere")
    }

    // MARK: Classification (nnMamba4cls)

    static func classificationPackage(_ dir: TemporaryDirectory, array: String = "nibabel_ijk") throws -> ModelPackage {
        var package = TestModelPackage.goldenClassification()
        package.manifest["format"] = "mambanode-model/2"
        package.manifest["input_layout"] = ["orientation": "as_stored_by_dcm2niix", "array": array]
        package.manifest["preprocessing"] = ["recipe": "none"]
        return try ModelPackage(directory: package.write(to: try dir.subdirectory("package-\(array)")))
    }

    @Test(arguments: Acquisition.allCases)
    func classificationTensorAndProbabilityAreTheOfficialOnes(acquisition: Acquisition) throws {
        let c = try Self.make(acquisition)
        try Self.reference(["adni-preprocess", "--image", c.nifti, "--out", c.dir.file("adni")])
        let expected = try Self.readTensor(c.dir.file("adni"))
        let pipeline = try InferencePipeline(package: Self.classificationPackage(c.dir))
        let tensor = try pipeline.prepare([c.volume]).tensor
        let same = Self.matches(tensor, (expected.shape, expected.values), tolerance: 1e-5)
        #expect(same, "\(acquisition): shape \(tensor.shape) vs \(expected.shape)")

        // The same network on the reference's tensor gives the node's probability.
        guard case .classification(let score) = try pipeline.run([c.volume]).output else {
            Issue.record("not a classification")
            return
        }
        let official = pipeline.network.forward(Tensor(shape: [1] + expected.shape, values: expected.values))
        let probability = 1 / (1 + exp(-Double(official[0])))
        #expect(abs(score.probability - probability) < 1e-5, "\(score.probability) vs \(probability)")
    }

    // MARK: Landmarks (LFC)

    static let lfcGrid = 128

    static func lfcManifest(array: String = "sitk_kji") throws -> ModelManifest {
        var json = TestModelPackage.manifest(
            task: "landmarks", architecture: "nnMambaSeg", inChannels: 1, channels: 16, blocks: 1, outputs: 3,
            normalization: ["kind": "lfc_window"], targetSpacing: [1, 1, 1],
            patchSize: [lfcGrid, lfcGrid, lfcGrid])
        json["format"] = "mambanode-model/2"
        json["input_layout"] = ["orientation": "as_stored_by_dcm2niix", "array": array]
        json["preprocessing"] = ["recipe": "lfc", "grid": [lfcGrid, lfcGrid, lfcGrid]]
        return try InferenceFixtures.manifest(json)
    }

    @Test(arguments: Acquisition.allCases)
    func lfcTensorAndLandmarksAreTheOfficialOnes(acquisition: Acquisition) throws {
        let c = try Self.make(acquisition)
        try Self.reference(["lfc-preprocess", "--image", c.nifti, "--out", c.dir.file("lfc")])
        let expected = try Self.readTensor(c.dir.file("lfc"))
        let pipeline = InferencePipeline(manifest: try Self.lfcManifest(), network: IdentityNetwork())
        let prepared = try pipeline.prepare([c.volume])
        // Values run 0…255 in float32, whose spacing there is 1.5e-5: the tolerance is relative.
        let same = Self.matches(prepared.tensor, (expected.shape, expected.values), tolerance: 1e-5)
        #expect(same, "\(acquisition): largest difference \(Self.largestDifference(prepared.tensor, expected.values))")

        // One peak per heat-map, read back by both.
        let g = Self.lfcGrid
        let peaks = [[10, 77, 120], [64, 3, 50], [127, 90, 0]]
        let heatmaps = Tensor(zeros: [1, 3, g, g, g])
        for (channel, p) in peaks.enumerated() { heatmaps[((channel * g + p[0]) * g + p[1]) * g + p[2]] = 1 }
        try Self.writeTensor(
            c.dir.file("heatmaps"), shape: [3, g, g, g],
            values: UnsafeBufferPointer(start: heatmaps.data, count: heatmaps.count))
        try Self.reference([
            "lfc-landmarks", "--heatmaps", c.dir.file("heatmaps"), "--image", c.nifti, "--out", c.dir.file("lfc.json")
        ])
        let official = try #require(
            try JSONSerialization.jsonObject(with: Data(contentsOf: URL(fileURLWithPath: c.dir.file("lfc.json"))))
                as? [String: Any])
        let points = try #require(official["landmarks"] as? [[String: Any]])
        let found = pipeline.landmarks(heatmaps, record: prepared.record)
        for point in points {
            let channel = try #require(point["channel"] as? Int)
            let lps = try #require(point["lps"] as? [Double])
            let node = try #require(found["L\(channel)"]).patient
            let distance = ((node - SIMD3(lps[0], lps[1], lps[2])) * (node - SIMD3(lps[0], lps[1], lps[2]))).sum()
                .squareRoot()
            #expect(distance < 0.01, "\(acquisition) L\(channel): \(node) vs \(lps)")
        }
    }

    // MARK: A wrong layout shows

    /// The same comparisons with the array order the checkpoint was not trained on: every one
    /// fails, so the tests above would catch a package that states the wrong `input_layout`.
    @Test func aWrongArrayOrderFailsEveryComparison() throws {
        let c = try Self.make(.obliqueMR)
        let plans = c.dir.file("plans.json")
        try Self.nnunetPlans(.obliqueMR, into: plans)
        try Self.reference(["nnunet-preprocess", "--image", c.nifti, "--plans", plans, "--out", c.dir.file("nnunet")])
        try Self.reference(["adni-preprocess", "--image", c.nifti, "--out", c.dir.file("adni")])
        try Self.reference(["lfc-preprocess", "--image", c.nifti, "--out", c.dir.file("lfc")])

        let seg = try Self.nnunetManifest(.obliqueMR, array: "nibabel_ijk")
        let segPrepared = try InferencePipeline(manifest: seg, network: IdentityNetwork()).prepare([c.volume])
        let nnunet = try Self.readTensor(c.dir.file("nnunet"))
        let segMatches = Self.matches(
            Self.unpadded(segPrepared, permutation: seg.spatialPermutation), (nnunet.shape, nnunet.values),
            tolerance: 1e-5)
        #expect(!segMatches)

        let cls = try InferencePipeline(package: Self.classificationPackage(c.dir, array: "sitk_kji"))
        let adni = try Self.readTensor(c.dir.file("adni"))
        let clsMatches = Self.matches(try cls.prepare([c.volume]).tensor, (adni.shape, adni.values), tolerance: 1e-5)
        #expect(!clsMatches)

        // 128³ either way: the same shape, other values.
        let lfc = InferencePipeline(manifest: try Self.lfcManifest(array: "nibabel_ijk"), network: IdentityNetwork())
        let window = try Self.readTensor(c.dir.file("lfc"))
        let wrong = try lfc.prepare([c.volume]).tensor
        #expect(Array(wrong.shape.dropFirst()) == window.shape)
        let lfcMatches = Self.matches(wrong, (window.shape, window.values), tolerance: 1e-5)
        #expect(!lfcMatches)
    }
}
