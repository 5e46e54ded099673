import Foundation
import TestSupport
import Testing

@testable import Volume

@Suite struct NIfTITests {
    @Test(arguments: [".nii", ".nii.gz"])
    func roundTripKeepsGeometryAndValues(_ suffix: String) throws {
        let dir = TemporaryDirectory()
        let g = VolumeResamplingTests.oblique
        let labels = VolumeResamplingTests.labelMap(on: g)
        let path = dir.file("labels" + suffix)
        try NIfTI.write(labels, to: path, as: .uint8)
        let back = try NIfTI.read(contentsOf: path)
        #expect(back.voxels == labels.voxels)
        #expect(back.geometry.size == g.size)
        #expect(maxAbs(back.geometry.origin - g.origin) < 1e-4)
        #expect(maxAbs(back.geometry.spacing - g.spacing) < 1e-5)
        for c in 0..<3 { #expect(maxAbs(back.geometry.direction[column: c] - g.direction[column: c]) < 1e-6) }
    }

    /// A uniform label map compresses to fewer bytes than the NIfTI header; that is no failure.
    /// CT and most MR volumes are written as Int16 exactly; anything else keeps Float32.
    @Test func int16OnlyForIntegersInRange() {
        let chunk = 1 << 20 // a value past the first chunk must count too
        var integral = [Float](repeating: 7, count: chunk + 10)
        integral[0] = -32768
        integral[chunk + 3] = 32767
        #expect(NIfTI.isIntegralInt16(integral))
        for bad: Float in [1.5, 32768, -32769, .nan, .infinity, -0.25] {
            var voxels = integral
            voxels[chunk + 5] = bad
            #expect(!NIfTI.isIntegralInt16(voxels), "\(bad) was taken for an Int16")
        }
    }

    /// An integral volume bigger than one conversion block (2^18 voxels) is written as Int16 (two
    /// bytes a voxel after the 352-byte header) and reads back exactly, plain and compressed.
    @Test(arguments: ["ct.nii", "ct.nii.gz"])
    func integralVolumeIsWrittenAsInt16BlockByBlock(_ name: String) throws {
        let dir = TemporaryDirectory()
        let g = Geometry(
            size: SIMD3(70, 70, 60), spacing: SIMD3(0.7, 0.7, 2), origin: SIMD3(5, -3, 40), direction: .identity)
        var volume = Volume(geometry: g)
        for index in volume.voxels.indices { volume.voxels[index] = Float(index * 7919 % 65536 - 32768) }
        try NIfTI.write(volume, to: dir.file(name))
        #expect(try NIfTI.read(contentsOf: dir.file(name)).voxels == volume.voxels)
        if !name.hasSuffix(".gz") {
            let size = try FileManager.default.attributesOfItem(atPath: dir.file(name))[.size] as? Int
            #expect(size == 352 + 2 * g.voxelCount)
        }
    }

    @Test func writesAnAllZeroLabelMapCompressed() throws {
        let dir = TemporaryDirectory()
        let empty = Volume(geometry: VolumeResamplingTests.oblique)
        try NIfTI.write(empty, to: dir.file("empty.nii.gz"))
        #expect(try NIfTI.read(contentsOf: dir.file("empty.nii.gz")).voxels == empty.voxels)
    }

    @Test func writesRASAsNiftiRequires() throws {
        // LPS origin (10, 20, 30) is RAS (−10, −20, 30); an LPS +x axis is RAS −x.
        let g = Geometry(size: SIMD3(2, 3, 4), spacing: SIMD3(1, 2, 3), origin: SIMD3(10, 20, 30), direction: .identity)
        #expect(g.indexToRAS[0] == [-1, 0, 0, -10])
        #expect(g.indexToRAS[1] == [0, -2, 0, -20])
        #expect(g.indexToRAS[2] == [0, 0, 3, 30])
        let dir = TemporaryDirectory()
        var volume = Volume(geometry: g, filledWith: 0.25)
        volume[1, 2, 3] = -7.5
        try NIfTI.write(volume, to: dir.file("v.nii")) // not integral: float32
        let back = try NIfTI.read(contentsOf: dir.file("v.nii"))
        #expect(back.voxels == volume.voxels)
        #expect(back.geometry.origin == g.origin)
    }

    @Test func reportsUnreadableFilesAsTypedErrors() throws {
        let dir = TemporaryDirectory()
        _ = FileManager.default.createFile(atPath: dir.file("bad.nii"), contents: Data("not nifti".utf8))
        let error = try #require(throws: VolumeError.self) { try NIfTI.read(contentsOf: dir.file("bad.nii")) }
        #expect(error.code == .nifti)
    }
}
