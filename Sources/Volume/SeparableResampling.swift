import Foundation

/// Linear and cubic B-spline resampling one axis at a time, for target grids whose axes run
/// along the source's in the same order (`AxisMapping.keepsAxisOrder`): i first, then j, then
/// k. Both interpolations are tensor products of one-dimensional kernels, and the B-spline
/// prefilter is a product of one filter per axis, so filtering and sampling along i, then along
/// j, then along k gives the same values as the point-by-point path (`Volume.resampledPointwise`)
/// up to rounding, at a few taps per voxel and axis. Filtering each axis just before sampling
/// it means the later axes filter the smaller, already sampled volume.
///
/// Each pass gathers lines into a block of `width` lines (element r of line w at r · width + w),
/// so the recursive prefilter and the taps run across lines in the innermost loop.
enum SeparableResampling {
    /// Lines per block when the lines are the volume's rows (the i pass).
    static let rowsPerBlock = 16
    /// Columns per block when the lines run across planes (the k pass).
    static let columnsPerBlock = 512

    static func resample(
        _ volume: Volume, to target: Geometry, mapping: AxisMapping, interpolation: Interpolation, fill: Float,
        extendingEdges: Bool, threads: Int?
    ) -> [Float] {
        precondition(mapping.keepsAxisOrder && interpolation != .nearest)
        let n = volume.geometry.size, t = target.size
        let spline = interpolation == .bspline3
        let taps = (0..<3).map { a in
            spline
                ? AxisTaps.bspline(source: n[a], count: t[a], extendingEdges: extendingEdges) {
                    mapping.coordinate(a, $0)
                }
                : AxisTaps.linear(source: n[a], count: t[a], extendingEdges: extendingEdges) {
                    mapping.coordinate(a, $0)
                }
        }
        // B-spline taps index the line of coefficients of the grown line; linear taps are
        // already clamped into the real line.
        let grow = spline && extendingEdges ? 1 : 0

        // i: rows of n.x → rows of t.x (n.y · n.z rows).
        var alongI = [Float](repeating: 0, count: t.x * n.y * n.z)
        volume.voxels.withUnsafeBufferPointer { source in
            alongI.withUnsafeMutableBufferPointer { out in
                nonisolated(unsafe) let (src, dst) = (source, out)
                let rows = n.y * n.z, width = rowsPerBlock, length = n.x + 2 * grow
                eachBlock(
                    (rows + width - 1) / width, lines: length, sampledLines: t.x, width: width, threads: threads
                ) { b, block, sampled in
                    let first = b * width, lines = min(width, rows - first)
                    for w in 0..<lines {
                        let row = src.baseAddress! + (first + w) * n.x
                        for r in 0..<length { block[r, w] = Double(row[min(max(r - grow, 0), n.x - 1)]) }
                    }
                    filterAndSample(block, spline: spline, taps: taps[0], into: sampled)
                    for w in 0..<lines {
                        let row = dst.baseAddress! + (first + w) * t.x
                        for i in 0..<t.x { row[i] = Float(sampled[i, w]) }
                    }
                }
            }
        }

        // j: per slice, the n.y rows of t.x values → t.y rows.
        var alongJ = [Float](repeating: 0, count: t.x * t.y * n.z)
        alongI.withUnsafeBufferPointer { source in
            alongJ.withUnsafeMutableBufferPointer { out in
                nonisolated(unsafe) let (src, dst) = (source, out)
                let length = n.y + 2 * grow
                eachBlock(n.z, lines: length, sampledLines: t.y, width: t.x, threads: threads) { k, block, sampled in
                    let slice = src.baseAddress! + k * n.y * t.x
                    for r in 0..<length {
                        let row = slice + min(max(r - grow, 0), n.y - 1) * t.x
                        for i in 0..<t.x { block[r, i] = Double(row[i]) }
                    }
                    filterAndSample(block, spline: spline, taps: taps[1], into: sampled)
                    let plane = dst.baseAddress! + k * t.y * t.x
                    for j in 0..<t.y {
                        for i in 0..<t.x { plane[j * t.x + i] = Float(sampled[j, i]) }
                    }
                }
            }
        }

        // k: the n.z planes of t.x · t.y values → t.z planes, a block of columns at a time.
        var output = [Float](repeating: fill, count: target.voxelCount)
        alongJ.withUnsafeBufferPointer { source in
            output.withUnsafeMutableBufferPointer { out in
                nonisolated(unsafe) let (src, dst) = (source, out)
                let plane = t.x * t.y, width = columnsPerBlock, length = n.z + 2 * grow
                eachBlock(
                    (plane + width - 1) / width, lines: length, sampledLines: t.z, width: width, threads: threads
                ) { b, block, sampled in
                    let first = b * width, columns = min(width, plane - first)
                    for r in 0..<length {
                        let row = src.baseAddress! + min(max(r - grow, 0), n.z - 1) * plane + first
                        for w in 0..<columns { block[r, w] = Double(row[w]) }
                    }
                    filterAndSample(block, spline: spline, taps: taps[2], into: sampled)
                    for k in 0..<t.z where taps[2].inside[k] {
                        let row = dst.baseAddress! + k * plane + first
                        for w in 0..<columns { row[w] = Float(sampled[k, w]) }
                    }
                }
            }
        }
        if !taps[0].allInside || !taps[1].allInside {
            for k in 0..<t.z {
                for j in 0..<t.y {
                    for i in 0..<t.x where !taps[0].inside[i] || !taps[1].inside[j] {
                        output[target.offset(i, j, k)] = fill
                    }
                }
            }
        }
        return output
    }

    /// Runs `body(item, block, sampled)` for every item in 0..<count on `threads` threads; each
    /// thread gets one `block` of `lines` lines and one `sampled` block of `sampledLines` lines,
    /// both `width` wide, reused for all its items.
    static func eachBlock(
        _ count: Int, lines: Int, sampledLines: Int, width: Int, threads: Int?,
        _ body: @Sendable (Int, Block, Block) -> Void
    ) {
        parallelBlocks(count, threads: threads) { items in
            let block = Block(lines: lines, width: width), sampled = Block(lines: sampledLines, width: width)
            defer {
                block.free()
                sampled.free()
            }
            for item in items { body(item, block, sampled) }
        }
    }

    /// Turns the block's lines into spline coefficients (with `spline`) and samples them at the
    /// taps: `out` line element t = Σ weight · line element index, for every target index t.
    static func filterAndSample(_ block: Block, spline: Bool, taps: AxisTaps, into out: Block) {
        if spline && block.lines > 1 { prefilter(block) }
        let width = block.width, data = block.data, result = out.data
        for t in 0..<taps.count {
            let line = result + t * width
            guard taps.inside[t] else {
                line.update(repeating: 0, count: width)
                continue
            }
            let base = t * taps.width
            let first = data + taps.index[base] * width, w0 = taps.weight[base]
            for w in 0..<width { line[w] = w0 * first[w] }
            for d in 1..<taps.width {
                let source = data + taps.index[base + d] * width, weight = taps.weight[base + d]
                for w in 0..<width { line[w] += weight * source[w] }
            }
        }
    }

    /// `BSpline.prefilter` applied to every line of the block at once (mirror boundaries).
    static func prefilter(_ block: Block) {
        let n = block.lines, width = block.width, c = block.data
        let z = BSpline.pole
        let gain = (1 - z) * (1 - 1 / z)
        for index in 0..<(n * width) { c[index] *= gain }
        // First causal coefficient: line element 0 becomes a weighted sum of the first elements.
        let first = UnsafeMutablePointer<Double>.allocate(capacity: width)
        defer { first.deallocate() }
        let horizon = Int((log(1e-12) / log(abs(z))).rounded(.up))
        if horizon < n {
            first.update(from: c, count: width)
            var power = z
            for r in 1..<horizon {
                let row = c + r * width
                for w in 0..<width { first[w] += power * row[w] }
                power *= z
            }
        } else {
            var z1 = z, zn = pow(z, Double(n - 1))
            let iz = 1 / z
            let last = c + (n - 1) * width
            for w in 0..<width { first[w] = c[w] + zn * last[w] }
            zn *= zn * iz
            for r in stride(from: 1, to: n - 1, by: 1) {
                let row = c + r * width, weight = z1 + zn
                for w in 0..<width { first[w] += weight * row[w] }
                z1 *= z
                zn *= iz
            }
            let scale = 1 / (1 - z1 * z1)
            for w in 0..<width { first[w] *= scale }
        }
        c.update(from: first, count: width)
        for r in 1..<n {
            let row = c + r * width, previous = row - width
            for w in 0..<width { row[w] += z * previous[w] }
        }
        // Anti-causal initialisation for mirror boundaries, then the anti-causal pass.
        let last = c + (n - 1) * width, beforeLast = last - width
        let k = z / (z * z - 1)
        for w in 0..<width { last[w] = k * (z * beforeLast[w] + last[w]) }
        for r in stride(from: n - 2, through: 0, by: -1) {
            let row = c + r * width, next = row + width
            for w in 0..<width { row[w] = z * (next[w] - row[w]) }
        }
    }

    /// `lines` lines of `width` doubles, element r of line w at r · width + w.
    struct Block {
        let lines: Int
        let width: Int
        let data: UnsafeMutablePointer<Double>

        init(lines: Int, width: Int) {
            self.lines = lines
            self.width = width
            data = .allocate(capacity: lines * width)
            data.initialize(repeating: 0, count: lines * width)
        }

        subscript(r: Int, w: Int) -> Double {
            @inline(__always) get { data[r * width + w] }
            @inline(__always) nonmutating set { data[r * width + w] = newValue }
        }

        func free() { data.deallocate() }
    }
}

/// Splits 0..<count into contiguous ranges, about four per worker, and runs `body` on each range
/// from `parallelFor`: a body allocates its scratch buffers once per range, not once per item.
func parallelBlocks(_ count: Int, threads: Int?, _ body: @Sendable (Range<Int>) -> Void) {
    guard count > 0 else { return }
    let workers = workerCount(threads, items: count)
    let ranges = min(count, workers == 1 ? 1 : 4 * workers)
    parallelFor(ranges, threads: workers) { r in
        let lower = r * count / ranges, upper = (r + 1) * count / ranges
        if lower < upper { body(lower..<upper) }
    }
}
