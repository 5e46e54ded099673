import Volume

/// A model's label map on the source grid: one class value per voxel (0 is background), in
/// `Volume` order (column fastest, then row, then slice).
///
/// Made from a `Volume` (e.g. read from NIfTI, or the engine's argmax resampled back) after
/// checking that its grid is the source grid: the SEG draws voxel (i, j, k) on column i, row j
/// of source slice k, so any other grid would put the segmentation in the wrong place.
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

    /// - Throws: `.gridMismatch` naming the differing part (`size`, `spacing`, `origin`,
    ///   `direction`) and both grids; `.badLabelValue` for a voxel that is negative, fractional
    ///   or above 65535.
    public init(_ volume: Volume, on source: Geometry, tolerance: Tolerance = Tolerance()) throws(ResultsError) {
        let g = volume.geometry
        let mismatch: String? =
            if g.size != source.size { "size" }
            else if maxAbs(g.spacing - source.spacing) > tolerance.millimetres { "spacing" }
            else if maxAbs(g.origin - source.origin) > tolerance.millimetres { "origin" }
            else if (0..<3).contains(where: { maxAbs(g.direction[column: $0] - source.direction[column: $0]) > tolerance.direction }) {
                "direction"
            } else { nil }
        if let mismatch {
            throw ResultsError(.gridMismatch, "the label map is not on the source grid (\(mismatch) differs beyond "
                               + "\(tolerance.millimetres) mm / \(tolerance.direction)): label map \(g); source \(source)",
                               field: mismatch)
        }
        var values = [UInt16](repeating: 0, count: volume.voxels.count)
        for (index, v) in volume.voxels.enumerated() {
            guard v >= 0, v <= 65535, v == v.rounded() else {
                let k = index / (g.size.x * g.size.y), j = index / g.size.x % g.size.y, i = index % g.size.x
                throw ResultsError(.badLabelValue, "voxel (\(i), \(j), \(k)) holds \(v); label values are integers 0…65535")
            }
            values[index] = UInt16(v)
        }
        // The source grid, not the label map's single-precision copy of it.
        self.geometry = source
        self.values = values
    }
}
