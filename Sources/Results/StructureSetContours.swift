import Volume

/// The planar contours of each segment on each source slice, in patient coordinates (LPS mm):
/// the ROI Contour Module content of an RT Structure Set (PS3.3 C.8.8.6), before any DICOM is
/// written.
///
/// Slice k of the label map's grid is source frame k (``SourceImages`` guarantees that the grid
/// is the source grid), so each contour is referenced to the frame it was traced on and lies in
/// that frame's plane by construction. Outlines come from ``SliceContours`` (exact along pixel
/// edges, holes as separate contours, PS3.3 C.8.8.6.3), moved a quarter pixel into the region:
///
/// - readers that fill the pixels whose centres lie inside (even-odd: dcmrtstruct2nii, most
///   planning systems) find every region pixel centre a quarter pixel inside and every other
///   centre three quarters outside;
/// - readers that round the vertices to pixel centres and fill inclusively (rt-utils, OpenCV's
///   fillPoly) get polygons through the centres of the boundary pixels.
///
/// Both give the label map back pixel for pixel, where the edge polygons themselves would grow
/// every structure by a pixel in the second kind of reader.
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
        make(outlines: SegmentOutlines(labels: labels, values: values), geometry: labels.geometry)
    }

    /// The contours of traced outlines on the grid they were traced on.
    public static func make(outlines: SegmentOutlines, geometry: Geometry) -> [StructureSetContours] {
        zip(outlines.values, outlines.slices).map { value, slices in
            StructureSetContours(
                value: value,
                contours: slices.map { k, outline in
                    let points = inset(outline.points, by: 0.25).map { corner in
                        // Pixel corners sit half a pixel from the centres the index counts.
                        geometry.patientPoint(ofIndex: SIMD3(corner.x - 0.5, corner.y - 0.5, Double(k)))
                    }
                    return Contour(frameIndex: k, points: points, isHole: outline.isHole)
                })
        }
    }

    /// The outline moved `distance` pixels toward the region, every edge parallel to itself.
    /// ``SliceContours`` keeps the region on the left of each edge (positive area for outer
    /// contours, negative for holes, in (column, row) numbers) and every corner is a right angle,
    /// so each vertex moves by `distance` along both adjacent edges' left normals.
    static func inset(_ points: [SIMD2<Double>], by distance: Double) -> [SIMD2<Double>] {
        let n = points.count
        return points.indices.map { i in
            let before = points[(i + n - 1) % n], here = points[i], after = points[(i + 1) % n]
            func leftNormal(_ from: SIMD2<Double>, _ to: SIMD2<Double>) -> SIMD2<Double> {
                let d = to - from
                let length = (d * d).sum().squareRoot()
                return SIMD2(-d.y, d.x) / length
            }
            return here + distance * (leftNormal(before, here) + leftNormal(here, after))
        }
    }
}
