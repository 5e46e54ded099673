import Volume

/// The planar contours of each segment on each source slice, in patient coordinates (LPS mm):
/// the ROI Contour Module content of an RT Structure Set (PS3.3 C.8.8.6), before any DICOM is
/// written.
///
/// Slice k of the label map's grid is source frame k (``SourceImages`` guarantees that the grid
/// is the source grid), so each contour is referenced to the frame it was traced on and lies in
/// that frame's plane by construction. Outlines come from ``SliceContours``: exact along pixel
/// edges, with holes as separate contours, which a reader fills with the even-odd rule (PS3.3
/// C.8.8.6.3).
///
/// ```swift
/// let rois = StructureSetContours.make(labels: labelMap, values: [1, 2])
/// print(rois[0].contours.count, rois[0].contours.first?.points.count ?? 0)
/// ```
public struct StructureSetContours: Sendable, Equatable {
    /// One closed planar contour on one source frame.
    public struct Contour: Sendable, Equatable {
        /// Index of the source frame (slice of the grid) the contour lies on.
        public var frameIndex: Int
        /// Vertices in patient coordinates, closed implicitly (CLOSED_PLANAR, PS3.3 C.8.8.6.1).
        public var points: [SIMD3<Double>]
        /// Whether the contour bounds a hole of the segment on that slice.
        public var isHole: Bool
    }

    /// The label value whose voxels the contours enclose.
    public var value: UInt16
    /// Per frame in slice order, the frame's outer contours and holes (``SliceContours`` order).
    public var contours: [Contour]

    /// The contours of each label in `values` (in that order; a label with no voxel gets none).
    public static func make(labels: LabelMap, values: [UInt16]) -> [StructureSetContours] {
        let geometry = labels.geometry
        let (columns, rows, slices) = (geometry.size.x, geometry.size.y, geometry.size.z)
        var result = values.map { StructureSetContours(value: $0, contours: []) }
        let index = Dictionary(uniqueKeysWithValues: values.enumerated().map { ($1, $0) })
        var mask = [Bool](repeating: false, count: rows * columns)
        labels.values.withUnsafeBufferPointer { voxels in
            for k in 0..<slices {
                let slice = voxels[(k * rows * columns)..<((k + 1) * rows * columns)]
                // The labels present on this slice, each traced once.
                var present = Set<UInt16>()
                for value in slice where value != 0 { present.insert(value) }
                for value in present.sorted() {
                    guard let roi = index[value] else { continue }
                    for (n, voxel) in slice.enumerated() { mask[n] = voxel == value }
                    for outline in SliceContours.trace(mask: mask, rows: rows, columns: columns) {
                        let points = outline.points.map { corner in
                            // Pixel corners sit half a pixel from the centres the index counts.
                            geometry.patientPoint(ofIndex: SIMD3(corner.x - 0.5, corner.y - 0.5, Double(k)))
                        }
                        result[roi].contours.append(Contour(frameIndex: k, points: points, isHole: outline.isHole))
                    }
                }
            }
        }
        return result
    }
}
