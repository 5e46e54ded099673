import DICOM
import Foundation
import Results
import TestSupport
import Testing
import Volume

/// dcmqi's `segimage2itkimage` (an independent SEG reader built on DCMTK and
/// ITK) turns our SEG back into one image per segment; placed in world coordinates, each equals
/// the input label map voxel for voxel.
@Suite struct DcmqiReadBackTests {
    static var tool: String? {
        let path = ResultsTestPaths.venv + "/bin/segimage2itkimage"
        return FileManager.default.isExecutableFile(atPath: path) ? path : nil
    }

    @Test(
        .enabled(if: tool != nil, "dcmqi is installed into .venv by Scripts/bootstrap"),
        arguments: [SourceKind.axialCT, .doubleObliqueMR, .nonSquarePixels, .reversedSlices])
    func segimage2itkimageMatchesInWorldCoordinates(_ kind: SourceKind) throws {
        let source = try GeneratedSource(kind)
        let images = try SourceImages(volume: source.volume, series: source.series)
        let labels = try LabelMap(NIfTI.read(contentsOf: source.writeLabels()), on: images.geometry)
        let result = try ResultEncoder(
            manifest: Manifests.decode(Manifests.segmentation()), configuration: .test(),
            uids: UIDGenerator()
        )
        .encodeSegmentation(labels, source: images, into: source.directory.file("out"))
        let seg = result.objects[0].path
        let out = try source.directory.subdirectory("dcmqi")
        let run = try ExternalTool.run(
            Self.tool!, ["--inputDICOM", seg, "--outputDirectory", out, "--outputType", "nifti"])
        try #require(run.status == 0, "\(run.output)")

        let expected = source.labels.map { Manifests.segmentOfValue[Int($0)] }
        let g = source.volume.geometry
        var segmentsSeen = 0
        for number in 1...4 {
            let path = out + "/\(number).nii.gz"
            // dcmqi writes no file for a segment without frames (the MR head has no lesion).
            guard FileManager.default.fileExists(atPath: path) else {
                #expect(!expected.contains(UInt8(number)), "segment \(number) has voxels but dcmqi wrote nothing")
                continue
            }
            segmentsSeen += 1
            let back = try NIfTI.read(contentsOf: path)
            var mismatches = 0, inside = 0, marked = 0, offGrid = 0
            for k in 0..<back.geometry.size.z {
                for j in 0..<back.geometry.size.y {
                    for i in 0..<back.geometry.size.x {
                        let world = back.geometry.patientPoint(ofIndex: SIMD3(Double(i), Double(j), Double(k)))
                        let index = g.continuousIndex(ofPatientPoint: world)
                        let r = SIMD3<Int>(Int(index.x.rounded()), Int(index.y.rounded()), Int(index.z.rounded()))
                        // Voxel centres must coincide with the source's, not merely fall near them.
                        if abs(index.x - Double(r.x)) > 1e-3 || abs(index.y - Double(r.y)) > 1e-3
                            || abs(index.z - Double(r.z)) > 1e-3
                        {
                            offGrid += 1
                        }
                        guard (0..<g.size.x).contains(r.x), (0..<g.size.y).contains(r.y), (0..<g.size.z).contains(r.z)
                        else { continue }
                        inside += 1
                        let isSet = back.voxels[back.geometry.offset(i, j, k)] != 0
                        if isSet { marked += 1 }
                        if isSet != (expected[g.offset(r.x, r.y, r.z)] == UInt8(number)) { mismatches += 1 }
                    }
                }
            }
            #expect(offGrid == 0, "segment \(number): \(offGrid) voxel centres are not on the source grid")
            #expect(mismatches == 0, "segment \(number): \(mismatches) of \(inside) voxels differ")
            #expect(marked == expected.filter { $0 == UInt8(number) }.count, "segment \(number) voxel count")
        }
        #expect(segmentsSeen >= 3)
    }
}

enum ResultsTestPaths {
    static let packageRoot = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
        .deletingLastPathComponent().path
    static let venv = packageRoot + "/.venv"
}
