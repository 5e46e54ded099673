import DICOM
import Foundation
import ModelPackage
import NNMamba
import TestSupport
import Testing
import Volume

@testable import Pipeline

/// Packages trained on another program's arrays (docs/official-input-layouts.md): the tensor the
/// node builds from the DICOM series is the array that program read from dcm2niix's NIfTI of the
/// same series, and the outputs come back onto the source voxels.
@Suite struct InputLayoutTests {
    static func manifest(
        layout: [String: Any]?, task: String = "classification", spacing: SIMD3<Double>, inChannels: Int = 1,
        outputs: Int = 1, patch: [Int] = [16, 16, 16]
    ) throws -> ModelManifest {
        var json = TestModelPackage.manifest(
            task: task, architecture: task == "classification" ? "nnMambaEncoder" : "nnMambaSeg",
            inChannels: inChannels, channels: 16, blocks: 1, outputs: outputs,
            normalization: ["kind": "none"], targetSpacing: [spacing.x, spacing.y, spacing.z], patchSize: patch)
        if let layout { json["input_layout"] = layout }
        return try InferenceFixtures.manifest(json)
    }

    @Test func theLayoutIsReadAndAnUnknownOneIsRefusedNamingTheField() throws {
        let m = try Self.manifest(
            layout: ["orientation": "as_stored_by_dcm2niix", "array": "nibabel_ijk"], spacing: SIMD3(1, 1, 1))
        #expect(m.layout == ModelManifest.InputLayout(orientation: .asStoredByDcm2niix, array: .nibabelIJK))
        #expect(try Self.manifest(layout: nil, spacing: SIMD3(1, 1, 1)).layout == ModelManifest.InputLayout())
        do {
            _ = try Self.manifest(layout: ["orientation": "RAS", "array": "sitk_kji"], spacing: SIMD3(1, 1, 1))
            Issue.record("an unknown orientation was accepted")
        } catch let error as ModelPackageError {
            #expect(error.field == "input_layout.orientation", "\(error)")
        }
    }

    enum Order: String, CaseIterable {
        case sitk = "sitk_kji", nibabel = "nibabel_ijk"
    }

    /// An axial CT through dcm2niix, read back in the file's voxel order: the node's tensor for a
    /// package of that layout is exactly that array (SimpleITK's [k, j, i] or nibabel's [i, j, k]),
    /// and with the node's own layout it is not (the rows run the other way).
    @Test(arguments: Order.allCases)
    func tensorIsTheArrayReadFromDcm2niixsFile(order: Order) throws {
        let dir = TemporaryDirectory("layout")
        let series = try SharedInputsTests.abdomenCT(in: dir)
        let volume = try series.assemble().volume
        let output = try dir.subdirectory("d2n")
        try ExternalTool.check("dcm2niix", ["-z", "n", "-b", "n", "-f", "d2n", "-o", output, dir.file("ct")])
        let file = try NIfTI.read(contentsOf: output + "/d2n.nii")
        // dcm2niix's grid is the series with its rows reversed.
        let stored = volume.geometry.rowsReversed
        #expect(file.geometry.size == stored.size)
        #expect(Self.largest(file.geometry.origin - stored.origin) < 1e-3)
        for c in 0..<3 {
            #expect(Self.largest(file.geometry.direction[column: c] - stored.direction[column: c]) < 1e-5)
        }

        // No resampling (the target is the series' own spacing), no normalisation: the tensor
        // holds the stored values themselves.
        let layout = ["orientation": "as_stored_by_dcm2niix", "array": order.rawValue]
        let pipeline = InferencePipeline(
            manifest: try Self.manifest(layout: layout, spacing: volume.geometry.spacing), network: IdentityNetwork())
        let tensor = try pipeline.prepare([volume]).tensor
        let (nx, ny, nz) = (stored.size.x, stored.size.y, stored.size.z)
        var expected = file.voxels
        if order == .nibabel {
            expected = [Float](repeating: 0, count: file.voxels.count)
            for k in 0..<nz {
                for j in 0..<ny {
                    for i in 0..<nx { expected[(i * ny + j) * nz + k] = file.voxels[(k * ny + j) * nx + i] }
                }
            }
            #expect(tensor.shape == [1, 1, nx, ny, nz])
        } else {
            #expect(tensor.shape == [1, 1, nz, ny, nx])
        }
        #expect(tensor.values == expected)

        // The node's own layout reverses the rows against the file: a wrong layout shows.
        let own = InferencePipeline(
            manifest: try Self.manifest(layout: nil, spacing: volume.geometry.spacing), network: IdentityNetwork())
        #expect(try own.prepare([volume]).tensor.values != file.voxels)
    }

    /// Segmentation with dcm2niix's orientation and nibabel's axis order on an oblique grid: the
    /// sliding window runs on the [i, j, k] tensor (padded per axis in that order), and a pointwise
    /// network's labels come back onto the source voxels unchanged.
    @Test func segmentationLabelsComeBackOntoTheSourceVoxels() throws {
        let grid = InferenceFixtures.obliqueGrid()
        let centre = InferenceFixtures.centre(grid)
        let truth = InferenceFixtures.volume(grid) { Float(InferencePipelineTests.truth($0, centre: centre)) }
        let indicators = (1...3).map { label in
            Volume(geometry: grid, voxels: truth.voxels.map { $0 == Float(label) ? 1 : 0 })
        }
        let manifest = try Self.manifest(
            layout: ["orientation": "as_stored_by_dcm2niix", "array": "nibabel_ijk"], task: "segmentation",
            spacing: grid.spacing, inChannels: 3, outputs: 4, patch: [48, 32, 16])
        let pipeline = InferencePipeline(manifest: manifest, network: IndicatorNetwork())
        let prepared = try pipeline.prepare(indicators)
        // (i, j, k) = (36, 30, 16) padded to multiples of 16 and at least the (i, j, k) patch.
        #expect(prepared.tensor.shape == [1, 3, 48, 32, 16])
        #expect(prepared.record.canonical == grid.rowsReversed)
        guard case .segmentation(let labels) = try pipeline.run(indicators).output else {
            Issue.record("not a segmentation")
            return
        }
        #expect(labels.geometry == grid)
        #expect(labels.voxels == truth.voxels)
    }

    static func largest(_ v: SIMD3<Double>) -> Double { max(abs(v.x), abs(v.y), abs(v.z)) }
}
