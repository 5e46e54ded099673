import Dispatch
import Volume

/// A model's label map on the source grid: one class value per voxel (0 is background), in
/// `Volume` order (column fastest, then row, then slice).
///
/// Made from a `Volume` (e.g. read from NIfTI, or the engine's argmax resampled back) whose voxel
/// centres coincide with the source grid's: the SEG draws voxel (i, j, k) on column i, row j of
/// source slice k, so any other grid would put the segmentation in the wrong place. The label
/// map's axes may be a permutation of the source's, each possibly reversed — dcm2niix writes rows
/// and columns flipped, nibabel's `as_closest_canonical` reorders to RAS, SimpleITK writes LPS —
/// and are then reordered exactly, voxel for voxel, with no interpolation. A grid whose centres do
/// not coincide is refused naming the offset in mm, unless the caller asks for nearest-neighbour
/// resampling (``init(resampling:onto:)``).
///
/// ```swift
/// let labels = try LabelMap(NIfTI.read(contentsOf: "labels.nii.gz"), on: source.geometry)
/// ```
public struct LabelMap: Sendable {
    public var geometry: Geometry
    public var values: [UInt16]

    /// How far a label map's grid may be from the source grid and still count as the same grid.
    /// NIfTI stores its affine in single precision, so equal grids come back a little apart.
    public struct Tolerance: Sendable, Equatable {
        /// Largest difference of origin and spacing, in mm (default 1e-3).
        public var millimetres: Double
        /// Largest difference of direction cosines (default 1e-5).
        public var direction: Double

        public init(millimetres: Double = 1e-3, direction: Double = 1e-5) {
            self.millimetres = millimetres
            self.direction = direction
        }
    }

    /// How the label map's axes lie on the source's: label axis `a` runs along source axis
    /// `axis[a]`, reversed where `reversed[a]`.
    public struct AxisMapping: Sendable, Equatable {
        public var axis: [Int]
        public var reversed: [Bool]
        public var isIdentity: Bool { axis == [0, 1, 2] && reversed == [false, false, false] }
    }

    /// The reordering that was applied (identity when the label map was already on the source grid).
    public var mapping = AxisMapping(axis: [0, 1, 2], reversed: [false, false, false])

    /// - Throws: `.gridMismatch` naming the differing part (`direction`, `size`, `spacing`,
    ///   `origin` — with the offset in mm) and both grids; `.badLabelValue` for a voxel that is
    ///   negative, fractional or above 65535.
    public init(_ volume: Volume, on source: Geometry, tolerance: Tolerance = Tolerance()) throws(ResultsError) {
        let g = volume.geometry
        func mismatch(_ part: String, _ detail: String) -> ResultsError {
            ResultsError(
                .gridMismatch,
                "the label map is not on the source grid: \(detail) (tolerance \(tolerance.millimetres) mm"
                    + " / \(tolerance.direction)); label map \(g); source \(source)", field: part)
        }
        // Each label axis must run along one source axis, forwards or backwards.
        var axis = [Int](repeating: -1, count: 3), reversed = [Bool](repeating: false, count: 3)
        for a in 0..<3 {
            let d = g.direction[column: a]
            func along(_ b: Int, _ sign: Double) -> Bool {
                maxAbs(d - sign * source.direction[column: b]) <= tolerance.direction
            }
            guard let b = (0..<3).first(where: { along($0, 1) || along($0, -1) }), !axis.contains(b) else {
                throw mismatch(
                    "direction", "label axis \(a) runs along no axis of the source (an oblique or rotated grid)")
            }
            axis[a] = b
            reversed[a] = !along(b, 1)
            guard g.size[a] == source.size[b] else {
                throw mismatch("size", "label axis \(a) has \(g.size[a]) voxels, source axis \(b) \(source.size[b])")
            }
            guard abs(g.spacing[a] - source.spacing[b]) <= tolerance.millimetres else {
                throw mismatch(
                    "spacing", "label axis \(a) spacing \(g.spacing[a]) mm, source axis \(b) \(source.spacing[b]) mm")
            }
        }
        // Its first voxel must sit on the source voxel at the corner those directions imply.
        var corner = SIMD3<Double>(0, 0, 0)
        for a in 0..<3 where reversed[a] { corner[axis[a]] = Double(source.size[axis[a]] - 1) }
        let offset = g.origin - source.patientPoint(ofIndex: corner)
        guard maxAbs(offset) <= tolerance.millimetres else {
            throw mismatch(
                "origin",
                String(
                    format: "its voxel centres are offset by (%.3f, %.3f, %.3f) mm (LPS) from the "
                        + "source's", offset.x, offset.y, offset.z))
        }
        // Source voxel v takes label voxel u with u[a] = v[axis[a]], or its mirror.
        var values = [UInt16](repeating: 0, count: volume.voxels.count)
        let stride = [1, g.size.x, g.size.x * g.size.y]
        var step = [0, 0, 0], start = 0
        for a in 0..<3 {
            let s = reversed[a] ? -stride[a] : stride[a]
            step[axis[a]] = s
            if reversed[a] { start += (g.size[a] - 1) * stride[a] }
        }
        let size = source.size, plane = size.x * size.y, first = start, steps = step
        // Each slice on its own thread; a slice notes its first bad voxel, the first of those is
        // reported (52 M voxels of a 512² × 200 CT take a tenth of a second this way).
        let bad = UnsafeMutableBufferPointer<Int>.allocate(capacity: size.z)
        bad.initialize(repeating: -1)
        defer { bad.deallocate() }
        values.withUnsafeMutableBufferPointer { out in
            volume.voxels.withUnsafeBufferPointer { voxels in
                nonisolated(unsafe) let (out, voxels, bad) = (out, voxels, bad)
                DispatchQueue.concurrentPerform(iterations: size.z) { k in
                    var target = k * plane
                    for j in 0..<size.y {
                        var u = first + j * steps[1] + k * steps[2]
                        for i in 0..<size.x {
                            let v = voxels[u]
                            // NaN fails the range test; the round trip through Int32 catches fractions.
                            guard v >= 0, v <= 65535, Float(Int32(v)) == v else {
                                bad[k] = j * size.x + i
                                return
                            }
                            out[target] = UInt16(v)
                            target += 1
                            u += steps[0]
                        }
                    }
                }
            }
        }
        if let k = bad.firstIndex(where: { $0 >= 0 }) {
            let (i, j) = (bad[k] % size.x, bad[k] / size.x)
            let v = volume.voxels[start + i * step[0] + j * step[1] + k * step[2]]
            throw ResultsError(
                .badLabelValue, "source voxel (\(i), \(j), \(k)) holds \(v); label values are integers 0…65535")
        }
        // The source grid, not the label map's single-precision copy of it.
        self.geometry = source
        self.values = values
        self.mapping = AxisMapping(axis: axis, reversed: reversed)
    }

    /// A label map on any grid, resampled nearest-neighbour onto `source` (voxels outside it
    /// become background): for label maps made on another grid, when the caller accepts that
    /// resampling moves boundaries by up to half a voxel.
    public init(resampling volume: Volume, onto source: Geometry) throws(ResultsError) {
        try self.init(volume.resampled(to: source, interpolation: .nearest), on: source)
    }
}
