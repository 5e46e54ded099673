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
        labels.values.withUnsafeBufferPointer { voxels in
            for k in 0..<count {
                let base = k * rows * columns
                // The labels present on this slice with their bounding boxes; each is traced once,
                // on its box only (organs cover a small part of a slice).
                var boxes: [UInt16: (area: Int, r0: Int, r1: Int, c0: Int, c1: Int)] = [:]
                for r in 0..<rows {
                    for c in 0..<columns {
                        let value = voxels[base + r * columns + c]
                        guard value != 0 else { continue }
                        if let b = boxes[value] {
                            boxes[value] = (b.area + 1, b.r0, r, min(b.c0, c), max(b.c1, c))
                        } else {
                            boxes[value] = (1, r, r, c, c)
                        }
                    }
                }
                for (value, b) in boxes.sorted(by: { $0.key < $1.key }) {
                    guard let n = index[value] else { continue }
                    areas[n][k] = b.area
                    let (height, width) = (b.r1 - b.r0 + 1, b.c1 - b.c0 + 1)
                    var mask = [Bool](repeating: false, count: height * width)
                    for r in 0..<height {
                        let row = base + (b.r0 + r) * columns + b.c0
                        for c in 0..<width where voxels[row + c] == value { mask[r * width + c] = true }
                    }
                    let offset = SIMD2(Double(b.c0), Double(b.r0))
                    for contour in SliceContours.trace(mask: mask, rows: height, columns: width) {
                        slices[n].append(
                            (k, PixelContour(points: contour.points.map { $0 + offset }, isHole: contour.isHole)))
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
