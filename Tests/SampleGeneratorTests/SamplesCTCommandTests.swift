import DICOM
import Foundation
import SampleGenerator
import TestSupport
import Testing
import Volume

/// `mambanode samples ct` run as the built binary, read back with the Volume module and
/// `mambanode volume`: the label map must lie on the volume's grid voxel for voxel.
@Suite struct SamplesCTCommandTests {
    static func run(_ arguments: [String]) async throws -> ToolResult {
        try await runTool(BuiltProducts.mambanode, arguments)
    }

    @Test func labelsMatchTheAssembledVolumeVoxelForVoxel() async throws {
        let dir = TemporaryDirectory("samples-ct")
        let series = dir.file("ct"), labels = dir.file("labels.nii.gz"), truth = dir.file("truth.json")
        let made = try await Self.run([
            "samples", "ct", series, "--size", "48", "--slices", "40", "--spacing", "4", "--seed", "5",
            "--lesion", "yes", "--labels", labels, "--truth", truth
        ])
        try #require(made.status == 0, "\(made.errorOutput)")
        let volumePath = dir.file("volume.nii.gz")
        let assembled = try await Self.run(["volume", series, "--nifti", volumePath])
        try #require(assembled.status == 0, "\(assembled.errorOutput)")

        let image = try NIfTI.read(contentsOf: volumePath), labelMap = try NIfTI.read(contentsOf: labels)
        #expect(labelMap.geometry == image.geometry)

        // The same series in-process: its labels in slice order are the label map's voxels.
        let abdomen = AbdomenPhantom(seed: 5, lesion: true)
        var generator = SeriesGenerator()
        (generator.rows, generator.columns, generator.slices, generator.sliceSpacing) = (48, 48, 40, 4)
        generator.pixelSpacing = (320.0 / 48, 320.0 / 48)
        generator.phantom = abdomen.phantom
        #expect(labelMap.voxels == generator.labels().map(Float.init))
        #expect(Set(labelMap.voxels) == [0, 1, 2, 3, 4, 5])

        // Labels sit on their HU: the median of each organ is its value within noise.
        for structure in AbdomenPhantom.Structure.allCases {
            let hu = zip(image.voxels, labelMap.voxels).filter { Int($0.1) == structure.rawValue }.map { Double($0.0) }
                .sorted()
            let median = hu[hu.count / 2]
            if structure == .vertebra {
                #expect((200...950).contains(median))
            } else {
                #expect(abs(median - abdomen.organs[structure]!.value) < 8, "\(structure): median \(median)")
            }
        }
        #expect(zip(image.voxels, labelMap.voxels).filter { $0.1 == 0 }.map(\.0).min()! < -900, "air around the body")

        let json =
            try JSONSerialization.jsonObject(with: Data(contentsOf: URL(fileURLWithPath: truth))) as! [String: Any]
        #expect(json["lesion"] as? Bool == true && json["seed"] as? Int == 5)
        #expect(
            json["labels"] as? [String: String] == [
                "1": "liver", "2": "spleen", "3": "right kidney", "4": "left kidney",
                "5": "vertebra"
            ])
        let landmarks = try #require(json["landmarks"] as? [String: [Double]])
        #expect(Set(landmarks.keys) == Set(abdomen.landmarks.map(\.name)))
        for landmark in abdomen.landmarks {
            let written = try #require(landmarks[landmark.name])
            #expect(
                zip(written, [landmark.point.x, landmark.point.y, landmark.point.z]).allSatisfy { abs($0 - $1) < 1e-9 })
        }
        let distances = try #require(json["distances_mm"] as? [String: Double])
        #expect(Set(distances.keys) == ["liver craniocaudal length", "interrenal distance", "spleen to left kidney"])
        let volumes = try #require(json["volumes_mm3"] as? [String: Double])
        let counts = Dictionary(grouping: labelMap.voxels, by: { Int($0) }).mapValues(\.count)
        let voxel = image.geometry.spacing.x * image.geometry.spacing.y * image.geometry.spacing.z
        // (The NIfTI header keeps spacing in float32, hence the relative tolerance.)
        #expect(abs(volumes["liver"]! / (Double(counts[1]!) * voxel) - 1) < 1e-6)
        // Voxel-counted volumes agree with the analytic ellipsoids at this coarse grid.
        let spleen = abdomen.organs[.spleen]!.volume
        #expect(abs(volumes["spleen"]! - spleen) / spleen < 0.15)
    }

    @Test func lesionNoAndFixedAreHonoured() async throws {
        let dir = TemporaryDirectory("samples-ct-options")
        let truth = dir.file("truth.json")
        let made = try await Self.run([
            "samples", "ct", dir.file("a"), "--size", "16", "--slices", "4", "--seed", "9",
            "--lesion", "no", "--truth", truth
        ])
        try #require(made.status == 0, "\(made.errorOutput)")
        let json =
            try JSONSerialization.jsonObject(with: Data(contentsOf: URL(fileURLWithPath: truth))) as! [String: Any]
        #expect(json["lesion"] as? Bool == false && json["lesion_centre"] == nil)

        // --fixed writes the original phantom: its pixels are SeriesGenerator's defaults.
        let fixed = try await Self.run(["samples", "ct", dir.file("fixed"), "--size", "16", "--slices", "4", "--fixed"])
        try #require(fixed.status == 0, "\(fixed.errorOutput)")
        var original = SeriesGenerator()
        (original.rows, original.columns, original.slices, original.sliceSpacing) = (16, 16, 4, 2.5)
        original.pixelSpacing = (20, 20)
        let first = try DataSet.read(contentsOf: dir.file("fixed") + "/IM00001.dcm").decodeFrame(0)
        #expect(first == original.storedPixels(slice: 0))

        let refused = try await Self.run(["samples", "ct", dir.file("b"), "--fixed", "--truth", truth])
        #expect(refused.status != 0 && refused.errorOutput.contains("--fixed"))
    }
}
