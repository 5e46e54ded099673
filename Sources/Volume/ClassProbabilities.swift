/// Class probabilities on a grid, channel after channel (class c's value at voxel offset o is at
/// c · voxelCount + o), and the label map they give on another grid. A read-only view of
/// memory its creator owns, which the worker threads of `labels(on:)` share.
public struct ClassProbabilities: @unchecked Sendable {
    public let grid: Geometry
    public let classes: Int
    let values: UnsafeBufferPointer<Float>

    /// A class may win a target voxel only where, at some source voxel around it, its
    /// probability comes within this of the background's. Interpolation is a convex combination
    /// of the same neighbours for every class, so where a class stays further below the
    /// background at all of them it stays below it after interpolation and rounding to Float.
    static let margin: Float = 1e-6

    /// `values` must hold `classes` channels of `grid.voxelCount` values and outlive this value.
    public init(grid: Geometry, classes: Int, values: UnsafeBufferPointer<Float>) {
        precondition(values.count == classes * grid.voxelCount, "one channel of the grid per class")
        self.grid = grid
        self.classes = classes
        self.values = values
    }

    /// nnU-Net's way back to a source grid: each class's probability interpolated linearly onto
    /// `target` (the border extended by half a voxel, `Volume.resampled(extendingEdges:)`), then
    /// the most probable class, ties to the lowest; target voxels outside the grid's field of view
    /// are background (0).
    ///
    /// Between parallel grids in the same axis order (the inference recipe's resampled and
    /// canonical grids) only the work that can change the answer is done: each class is
    /// interpolated only in the box of target voxels next to a source voxel where it nearly
    /// reaches the background (`margin`), one target slice at a time, and compared there; the
    /// result equals `pointwiseLabels` up to exact ties. Other grids go point by point.
    public func labels(on target: Geometry, threads: Int? = nil) -> [Float] {
        guard let mapping = AxisMapping(from: grid, to: target), mapping.keepsAxisOrder,
            mapping.scale.allSatisfy({ $0 > 0 })
        else {
            return pointwiseLabels(on: target, threads: threads)
        }
        let n = grid.size
        let taps = (0..<3).map { a in
            AxisTaps.linear(source: n[a], count: target.size[a], extendingEdges: true) { mapping.coordinate(a, $0) }
        }
        var labels = [Float](repeating: 0, count: target.voxelCount)
        guard classes > 1 else { return labels }
        let boxes = (1..<classes).map { c in targetBox(sourceBox(of: c), taps: taps) }
        let candidates = (1..<classes).filter { boxes[$0 - 1] != nil }
        guard !candidates.isEmpty else { return labels }
        var union = boxes[candidates[0] - 1]!
        for c in candidates {
            union.lower = pointwiseMin(union.lower, boxes[c - 1]!.lower)
            union.upper = pointwiseMax(union.upper, boxes[c - 1]!.upper)
        }
        labels.withUnsafeMutableBufferPointer { buffer in
            nonisolated(unsafe) let out = buffer
            let box = union
            parallelBlocks(box.upper.z - box.lower.z, threads: threads) { slices in
                var planes = [PlaneCache(self, taps: taps, class: 0, box: box)]
                for c in candidates { planes.append(PlaneCache(self, taps: taps, class: c, box: boxes[c - 1]!)) }
                defer { for cache in planes { cache.free() } }
                let width = box.upper.x - box.lower.x, height = box.upper.y - box.lower.y
                var best = [Float](repeating: 0, count: width * height)
                for k in slices.lowerBound + box.lower.z..<slices.upperBound + box.lower.z {
                    let slice = out.baseAddress! + k * target.size.y * target.size.x
                    for cache in planes {
                        let b = cache.box
                        guard k >= b.lower.z, k < b.upper.z else { continue }
                        let (low, high) = cache.planes(around: k)
                        let f = taps[2].weight[2 * k + 1]
                        let bw = b.upper.x - b.lower.x, label = Float(cache.classIndex)
                        for j in b.lower.y..<b.upper.y {
                            let lowRow = low + (j - b.lower.y) * bw - b.lower.x
                            let highRow = high + (j - b.lower.y) * bw - b.lower.x
                            let bestRow = (j - box.lower.y) * width - box.lower.x
                            let labelRow = slice + j * target.size.x
                            if cache.classIndex == 0 {
                                for i in b.lower.x..<b.upper.x {
                                    let a = lowRow[i], c = highRow[i]
                                    best[bestRow + i] = Float(a + (c - a) * f)
                                }
                                continue
                            }
                            for i in b.lower.x..<b.upper.x {
                                let a = lowRow[i], c = highRow[i]
                                let value = Float(a + (c - a) * f)
                                if value > best[bestRow + i] {
                                    best[bestRow + i] = value
                                    labelRow[i] = label
                                }
                            }
                        }
                    }
                }
            }
        }
        return labels
    }

    /// Every class resampled onto the whole target point by point, then the argmax: the plain
    /// statement of what `labels(on:)` computes, and its reference in the tests.
    public func pointwiseLabels(on target: Geometry, threads: Int? = nil) -> [Float] {
        let count = target.voxelCount, n = grid.voxelCount
        var best = [Float](repeating: -.infinity, count: count)
        var labels = [Float](repeating: 0, count: count)
        for c in 0..<classes {
            let channel = Volume(geometry: grid, voxels: Array(values[(c * n)..<((c + 1) * n)]))
            // Outside the field of view the class is background.
            let back = channel.resampledPointwise(
                to: target, interpolation: .linear, fill: c == 0 ? 1 : 0, extendingEdges: true, threads: threads)
            for i in 0..<count where back.voxels[i] > best[i] {
                best[i] = back.voxels[i]
                labels[i] = Float(c)
            }
        }
        return labels
    }

    /// Lower (inclusive) and upper (exclusive) corner of a box of indices.
    struct Box: Equatable {
        var lower: SIMD3<Int>
        var upper: SIMD3<Int>
    }

    /// The source voxels where class `c` comes within `margin` of the background, or nil.
    func sourceBox(of c: Int) -> Box? {
        let n = grid.size, count = grid.voxelCount
        var lower = n, upper = SIMD3<Int>.zero
        for k in 0..<n.z {
            for j in 0..<n.y {
                let row = (k * n.y + j) * n.x
                var first = -1, last = -1
                for i in 0..<n.x where values[c * count + row + i] >= values[row + i] - Self.margin {
                    if first < 0 { first = i }
                    last = i
                }
                guard first >= 0 else { continue }
                lower = pointwiseMin(lower, SIMD3(first, j, k))
                upper = pointwiseMax(upper, SIMD3(last + 1, j + 1, k + 1))
            }
        }
        return upper.x > 0 ? Box(lower: lower, upper: upper) : nil
    }

    /// The target voxels inside the field of view with a source tap in `box`.
    func targetBox(_ box: Box?, taps: [AxisTaps]) -> Box? {
        guard let box else { return nil }
        var result = Box(lower: .zero, upper: .zero)
        for a in 0..<3 {
            let reaching = (0..<taps[a].count).filter { t in
                taps[a].inside[t] && taps[a].index[2 * t + 1] >= box.lower[a] && taps[a].index[2 * t] < box.upper[a]
            }
            guard let first = reaching.first, let last = reaching.last else { return nil }
            result.lower[a] = first
            result.upper[a] = last + 1
        }
        return result
    }

    /// One class interpolated along i and j onto its target box, for the (at most two) source
    /// slices that the current target slice reads; the slices advance with the target slice.
    final class PlaneCache {
        let probabilities: ClassProbabilities
        let taps: [AxisTaps]
        let classIndex: Int
        let box: Box
        private var slices = [-1, -1]
        private let buffers: [UnsafeMutablePointer<Double>]
        private let rows: UnsafeMutablePointer<Double>
        private let firstRow: Int, rowCount: Int

        init(_ probabilities: ClassProbabilities, taps: [AxisTaps], class c: Int, box: Box) {
            self.probabilities = probabilities
            self.taps = taps
            classIndex = c
            self.box = box
            let plane = (box.upper.x - box.lower.x) * (box.upper.y - box.lower.y)
            buffers = [.allocate(capacity: plane), .allocate(capacity: plane)]
            firstRow = taps[1].index[2 * box.lower.y]
            rowCount = taps[1].index[2 * (box.upper.y - 1) + 1] - firstRow + 1
            rows = .allocate(capacity: rowCount * (box.upper.x - box.lower.x))
        }

        func free() {
            for buffer in buffers { buffer.deallocate() }
            rows.deallocate()
        }

        /// The planes of source slices index[2k] and index[2k + 1] (they may be one slice).
        func planes(around k: Int) -> (UnsafeMutablePointer<Double>, UnsafeMutablePointer<Double>) {
            let low = taps[2].index[2 * k], high = taps[2].index[2 * k + 1]
            let lowPlane = plane(of: low, keeping: -1)
            return (lowPlane, plane(of: high, keeping: low))
        }

        /// The plane of source slice `s`, computed into the slot not holding `kept` (preferably
        /// an empty one, else the one of the lower slice, which the target slices have passed).
        private func plane(of s: Int, keeping kept: Int) -> UnsafeMutablePointer<Double> {
            if let cached = slices.firstIndex(of: s) { return buffers[cached] }
            let slot =
                slices[0] == kept
                ? 1
                : slices[1] == kept
                    ? 0
                    : slices[0] == -1 ? 0 : slices[1] == -1 ? 1 : slices[0] < slices[1] ? 0 : 1
            slices[slot] = s
            fill(buffers[slot], slice: s)
            return buffers[slot]
        }

        /// Along i for every source row the box reads, then along j: the same operations, in the
        /// same order, as `Sampler.linear` (lerp along i, then j; k is done by the caller).
        private func fill(_ plane: UnsafeMutablePointer<Double>, slice s: Int) {
            let n = probabilities.grid.size, width = box.upper.x - box.lower.x
            let channel = probabilities.values.baseAddress! + classIndex * probabilities.grid.voxelCount + s * n.x * n.y
            let ti = taps[0], tj = taps[1]
            for r in 0..<rowCount {
                let source = channel + (firstRow + r) * n.x, row = rows + r * width
                for i in box.lower.x..<box.upper.x {
                    let a = Double(source[ti.index[2 * i]]), b = Double(source[ti.index[2 * i + 1]])
                    row[i - box.lower.x] = a + (b - a) * ti.weight[2 * i + 1]
                }
            }
            for j in box.lower.y..<box.upper.y {
                let a = rows + (tj.index[2 * j] - firstRow) * width, b = rows + (tj.index[2 * j + 1] - firstRow) * width
                let f = tj.weight[2 * j + 1], out = plane + (j - box.lower.y) * width
                for i in 0..<width { out[i] = a[i] + (b[i] - a[i]) * f }
            }
        }
    }
}
