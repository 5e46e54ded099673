import DICOM
import Foundation
import TestSupport
import Volume

/// Runs dcm2niix on a folder and reads every NIfTI it wrote with our niftilib reader (in LPS,
/// scl_slope/scl_inter applied).
enum Dcm2niix {
    /// File name (without .nii) → volume.
    static func convert(_ directory: String, in output: TemporaryDirectory) throws -> [String: Volume] {
        // -z n: uncompressed; -b n: no sidecar; -f: a fixed name so suffixes (_e2, _Tilt_1) stand out.
        try ExternalTool.check("dcm2niix", ["-z", "n", "-b", "n", "-f", "d2n", "-o", output.path, directory])
        var volumes: [String: Volume] = [:]
        for name in try FileManager.default.contentsOfDirectory(atPath: output.path) where name.hasSuffix(".nii") {
            volumes[String(name.dropLast(4))] = try NIfTI.read(contentsOf: output.file(name))
        }
        return volumes
    }

    /// Whether dcm2niix gets a copy decompressed by DCMTK instead of the files themselves: this
    /// dcm2niix build reads neither Deflate nor JPEG-LS nor 12/16-bit lossy JPEG, and for lossy
    /// JPEG its own decoder's IDCT differs from libjpeg's by a few units (both are valid decoders
    /// of a lossy stream), so DCMTK's decompression is the reference for what we decode.
    static func needsDecompressedCopy(_ syntax: TransferSyntax) -> Bool {
        [.deflatedExplicitVRLittleEndian, .jpegLSLossless, .jpegLSNearLossless, .jpegBaseline, .jpegExtended].contains(
            syntax)
    }

    /// Copies every file of `directory` into Explicit VR Little Endian with the matching DCMTK tool.
    static func decompressedCopy(
        of directory: String, syntax: TransferSyntax, in parent: TemporaryDirectory
    ) throws -> String {
        let target = parent.file("decompressed")
        try FileManager.default.createDirectory(atPath: target, withIntermediateDirectories: true)
        let tool =
            switch syntax {
            case .jpegLSLossless, .jpegLSNearLossless: "dcmdjpls"
            case .jpegBaseline, .jpegExtended: "dcmdjpeg"
            default: "dcmconv"
            }
        for name in try FileManager.default.contentsOfDirectory(atPath: directory) {
            try ExternalTool.check(tool, [directory + "/" + name, target + "/" + name, "+te"])
        }
        return target
    }
}

/// How two volumes on possibly different index orders compare in patient space: dcm2niix flips
/// and permutes axes as it likes, so every voxel of `theirs` is mapped through both affines to
/// ours, which must be a signed permutation plus an integer offset.
struct WorldComparison: CustomStringConvertible {
    /// Largest distance (mm) between the patient positions the two affines give the same voxel.
    var positionError = 0.0
    /// Largest difference between corresponding direction cosines.
    var directionError = 0.0
    var spacingError = 0.0
    var comparedVoxels = 0
    var mismatchedVoxels = 0
    var largestValueDifference: Float = 0
    var failure: String?

    var description: String {
        failure
            ?? "position error \(positionError) mm, direction error \(directionError), spacing error \(spacingError), "
            + "\(mismatchedVoxels)/\(comparedVoxels) voxels differ (largest \(largestValueDifference))"
    }

    /// Compares `ours` with `theirs`; `expected` turns their value into the value we should have
    /// (e.g. MONOCHROME1 inversion), and values may differ by `valueTolerance`. With `interiorOnly`,
    /// voxels within `margin` of their grid's i/j border are skipped (tilt correction fills differ).
    init(
        ours: Volume, theirs: Volume, valueTolerance: Float = 0, margin: Int = 0,
        expected: (Float) -> Float = { $0 }
    ) {
        let a = ours.geometry, b = theirs.geometry
        guard let inverse = a.indexToPatientMatrix.inverse else {
            failure = "singular affine"
            return
        }
        // Their index step → our index step; their origin → our index.
        let m = inverse * b.indexToPatientMatrix
        let t = inverse * (b.origin - a.origin)
        var permutation = [(axis: Int, sign: Int)]()
        for column in 0..<3 {
            let v = m[column: column]
            let axis = [abs(v.x), abs(v.y), abs(v.z)].enumerated().max { $0.element < $1.element }!.offset
            let sign = v[axis] > 0 ? 1 : -1
            permutation.append((axis, sign))
        }
        guard Set(permutation.map(\.axis)).count == 3 else {
            failure = "axes do not correspond: \(m)"
            return
        }
        let offset = SIMD3(t.x.rounded(), t.y.rounded(), t.z.rounded())
        for c in 0..<3 where b.size[c] != a.size[permutation[c].axis] {
            failure = "sizes differ: ours \(a.size), theirs \(b.size)"
            return
        }
        func ourIndex(_ i: Int, _ j: Int, _ k: Int) -> SIMD3<Int> {
            var index = SIMD3<Int>(Int(offset.x), Int(offset.y), Int(offset.z))
            for (c, value) in [i, j, k].enumerated() { index[permutation[c].axis] += permutation[c].sign * value }
            return index
        }
        for k in [0, b.size.z - 1] {
            for j in [0, b.size.y - 1] {
                for i in [0, b.size.x - 1] {
                    let theirPoint = b.patientPoint(ofIndex: SIMD3(Double(i), Double(j), Double(k)))
                    let o = ourIndex(i, j, k)
                    let ourPoint = a.patientPoint(ofIndex: SIMD3(Double(o.x), Double(o.y), Double(o.z)))
                    let d = theirPoint - ourPoint
                    positionError = max(positionError, (d * d).sum().squareRoot())
                }
            }
        }
        for c in 0..<3 {
            let theirs = b.direction[column: c]
            let ours = a.direction[column: permutation[c].axis] * Double(permutation[c].sign)
            let d = theirs - ours
            directionError = max(directionError, abs(d.x), abs(d.y), abs(d.z))
            spacingError = max(spacingError, abs(b.spacing[c] - a.spacing[permutation[c].axis]))
        }
        for k in 0..<b.size.z {
            for j in 0..<b.size.y {
                for i in 0..<b.size.x {
                    let o = ourIndex(i, j, k)
                    if margin > 0, min(o.x, o.y, a.size.x - 1 - o.x, a.size.y - 1 - o.y) < margin { continue }
                    let want = expected(theirs[i, j, k])
                    let have = ours[o.x, o.y, o.z]
                    comparedVoxels += 1
                    let difference = abs(want - have)
                    largestValueDifference = max(largestValueDifference, difference)
                    if difference > valueTolerance { mismatchedVoxels += 1 }
                }
            }
        }
    }

    /// Agreement with dcm2niix: affine within 1e-3 mm and 1e-5 in direction cosines,
    /// every compared voxel equal (within the given tolerance).
    var agrees: Bool {
        failure == nil && positionError <= 1e-3 && directionError <= 1e-5 && spacingError <= 1e-3
            && mismatchedVoxels == 0
            && comparedVoxels > 0
    }
}
