import Foundation

/// Where every voxel of a regular grid sits in patient space, without the voxels (as highdicom
/// separates `VolumeGeometry` from `Volume`), so routing, SEG encoding and resampling plans can
/// work on geometry alone.
///
/// Coordinates are DICOM patient coordinates, LPS+, in millimetres (PS3.3 C.7.6.2.1.1). Index
/// (i, j, k) addresses column i, row j, slice k; voxel (0, 0, 0) is the centre of the first pixel
/// transmitted of the first slice. The patient position of a continuous index is
///
///     p = origin + direction · diag(spacing) · (i, j, k)
///
/// where the columns of `direction` are the unit vectors of the i, j and k axes: for an image
/// plane, the row direction (first three values of Image Orientation (Patient)), the column
/// direction (last three) and the slice normal along which slices are stacked.
///
/// ```swift
/// let g = volume.geometry
/// let corner = g.patientPoint(ofIndex: SIMD3(0, 0, Double(g.size.z - 1)))
/// let back = g.continuousIndex(ofPatientPoint: corner)   // (0, 0, size.z − 1)
/// ```
public struct Geometry: Sendable, Codable, Equatable, Hashable {
    /// Voxels along i (columns), j (rows) and k (slices).
    public var size: SIMD3<Int>
    /// Millimetres between voxel centres along i, j, k. Along i this is the *column* spacing, the
    /// second value of Pixel Spacing; along j the *row* spacing, the first (PS3.3 C.7.6.2.1.1).
    public var spacing: SIMD3<Double>
    /// Patient position (LPS, mm) of the centre of voxel (0, 0, 0).
    public var origin: SIMD3<Double>
    /// Unit direction of each index axis in patient space (columns).
    public var direction: Matrix3

    public init(size: SIMD3<Int>, spacing: SIMD3<Double>, origin: SIMD3<Double>, direction: Matrix3) {
        self.size = size
        self.spacing = spacing
        self.origin = origin
        self.direction = direction
    }

    public var voxelCount: Int { size.x * size.y * size.z }

    /// direction · diag(spacing): maps an index step to a patient-space displacement.
    public var indexToPatientMatrix: Matrix3 {
        Matrix3(columns: direction.c0 * spacing.x, direction.c1 * spacing.y, direction.c2 * spacing.z)
    }

    /// The 4×4 affine mapping (i, j, k, 1) to LPS millimetres, row-major.
    public var indexToPatient: [[Double]] {
        let m = indexToPatientMatrix
        return [
            [m[0, 0], m[0, 1], m[0, 2], origin.x],
            [m[1, 0], m[1, 1], m[1, 2], origin.y],
            [m[2, 0], m[2, 1], m[2, 2], origin.z],
            [0, 0, 0, 1]
        ]
    }

    /// The affine NIfTI expects: (i, j, k, 1) to RAS+ millimetres (x and y negated, PS3.3 LPS to
    /// the NIfTI-1 scanner-anatomical convention).
    public var indexToRAS: [[Double]] {
        var a = indexToPatient
        for c in 0..<4 {
            a[0][c] = -a[0][c]
            a[1][c] = -a[1][c]
        }
        return a
    }

    /// Patient position of a (continuous) index.
    public func patientPoint(ofIndex index: SIMD3<Double>) -> SIMD3<Double> {
        origin + indexToPatientMatrix * index
    }

    /// The continuous index of a patient position (nil only for a degenerate geometry).
    public func continuousIndex(ofPatientPoint point: SIMD3<Double>) -> SIMD3<Double> {
        guard let inverse = indexToPatientMatrix.inverse else { return SIMD3(repeating: .nan) }
        return inverse * (point - origin)
    }

    /// Linear offset of voxel (i, j, k) in a buffer with i fastest.
    @inline(__always)
    public func offset(_ i: Int, _ j: Int, _ k: Int) -> Int { (k * size.y + j) * size.x + i }

    /// The patient positions of the eight corner voxel centres.
    public var cornerPoints: [SIMD3<Double>] {
        var points: [SIMD3<Double>] = []
        for k in [0, size.z - 1] {
            for j in [0, size.y - 1] {
                for i in [0, size.x - 1] {
                    points.append(patientPoint(ofIndex: SIMD3(Double(i), Double(j), Double(k))))
                }
            }
        }
        return points
    }
}

extension Geometry: CustomStringConvertible {
    public var description: String {
        func f(_ v: SIMD3<Double>) -> String {
            "(\([v.x, v.y, v.z].map { String(format: "%.4f", $0) }.joined(separator: ", ")))"
        }
        return "\(size.x)×\(size.y)×\(size.z) spacing \(f(spacing)) origin \(f(origin)) "
            + "direction [\(f(direction.c0)), \(f(direction.c1)), \(f(direction.c2))]"
    }
}
