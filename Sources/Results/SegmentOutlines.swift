/// The outlines of each label on each slice of a label map, in pixel-corner coordinates of the
/// slice: what the RT Structure Set (``StructureSetContours``), the presentation state and the
/// Secondary Capture overlays draw. Traced once per result and shared by all three.
///
/// ```swift
/// let outlines = SegmentOutlines(labels: labelMap, values: [1, 2])
/// for (frame, contour) in outlines.slices[0] { print(frame, contour.points.count) }
/// ```
public struct SegmentOutlines: Sendable {
    /// The label value of each entry of `slices`, in the order asked for.
    public var values: [UInt16]
    /// Per value, its outlines as (slice index, contour) in slice order, each slice's contours in
    /// ``SliceContours`` order (outer contours and holes).
    public var slices: [[(frame: Int, contour: PixelContour)]]
    /// Per value, its voxel count on each slice (the cross-section a key image is chosen by).
    public var areas: [[Int]]

    /// Traces every label in `values` on every slice (a label with no voxel gets no outline).
    public init(labels: LabelMap, values: [UInt16]) {
        let geometry = labels.geometry
        let (columns, rows, count) = (geometry.size.x, geometry.size.y, geometry.size.z)
        self.values = values
        var slices = [[(frame: Int, contour: PixelContour)]](repeating: [], count: values.count)
        var areas = [[Int]](repeating: [Int](repeating: 0, count: count), count: values.count)
        let index = Dictionary(values.enumerated().map { ($1, $0) }, uniquingKeysWith: { first, _ in first })
        var mask = [Bool](repeating: false, count: rows * columns)
        labels.values.withUnsafeBufferPointer { voxels in
            for k in 0..<count {
                let slice = voxels[(k * rows * columns)..<((k + 1) * rows * columns)]
                // The labels present on this slice, each traced once.
                var present: [UInt16: Int] = [:]
                for value in slice where value != 0 { present[value, default: 0] += 1 }
                for (value, area) in present.sorted(by: { $0.key < $1.key }) {
                    guard let n = index[value] else { continue }
                    areas[n][k] = area
                    for (p, voxel) in slice.enumerated() { mask[p] = voxel == value }
                    for contour in SliceContours.trace(mask: mask, rows: rows, columns: columns) {
                        slices[n].append((k, contour))
                    }
                }
            }
        }
        self.slices = slices
        self.areas = areas
    }

    /// The slice with the largest cross-section of entry `n` (the first such slice), or nil when
    /// the label has no voxel.
    public func largestSlice(of n: Int) -> Int? {
        guard let best = areas[n].max(), best > 0 else { return nil }
        return areas[n].firstIndex(of: best)
    }
}
