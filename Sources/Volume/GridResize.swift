import Foundation

/// Resizing an array of voxels to another number of voxels per axis, index to index, as
/// scikit-image's `resize` does (what nnU-Net v1 and LFC resample with; see
/// docs/official-input-layouts.md): the two grids share their outer edges, so output index `o`
/// reads input coordinate `(o + 0.5) · n / m − 0.5`, and nothing about the patient space is used.
///
/// Each axis is resized on its own (every interpolation here is a product of one kernel per
/// axis, and the anti-aliasing Gaussian too), so a 2-D resize of every slice is the same call with
/// that axis left alone. Values are carried in Double along each line and stored as Float between
/// axes.
///
/// ```swift
/// // nnU-Net's image resampling: third order, edges extended, clipped to the input's range.
/// let out = GridResize.resize(voxels, size: SIMD3(240, 240, 155), to: SIMD3(200, 200, 130),
///                             orders: [.cubic, .cubic, .cubic], boundary: .edge)
/// ```
public enum GridResize {
    /// The interpolation along one axis (scikit-image's `order`).
    public enum Order: Int, Sendable {
        /// The nearest input sample, half-way points going up (SciPy's order 0).
        case nearest = 0
        case linear = 1
        /// Cubic B-spline through the samples (prefiltered), SciPy's order 3.
        case cubic = 3
    }

    /// What lies beyond the first and last sample (scikit-image's `mode`).
    public enum Boundary: Sendable {
        /// The border sample repeated (`mode="edge"`, SciPy's "nearest"). For the cubic spline the
        /// line is padded with 12 repeated samples before the prefilter, as SciPy does for this
        /// mode, which makes it the infinitely extended line to ~1e-13.
        case edge
        /// Reflected about the border sample, which is not repeated (`mode="reflect"`, SciPy's
        /// "mirror"): sample −1 is sample 1.
        case mirror
    }

    /// SciPy's padding of a line before the spline prefilter in edge mode
    /// (`scipy.ndimage._prepad_for_spline_filter`).
    static let splinePadding = 12

    /// `values` (x fastest, `size` = (nx, ny, nz)) resized to `target`. `orders[a]` is the
    /// interpolation along axis a, nil to leave an axis as it is (its size must not change);
    /// `antiAliasing` first smooths every axis that shrinks with a Gaussian of σ = (n/m − 1)/2
    /// (scikit-image's default when downsampling), truncated at 4σ, with the same boundary.
    public static func resize(
        _ values: [Float], size: SIMD3<Int>, to target: SIMD3<Int>, orders: [Order?], boundary: Boundary,
        antiAliasing: Bool = false, threads: Int? = nil
    ) -> [Float] {
        precondition(values.count == size.x * size.y * size.z && orders.count == 3)
        var current = values, shape = size
        for axis in 0..<3 {
            guard let order = orders[axis] else {
                precondition(target[axis] == shape[axis], "axis \(axis) is left alone but changes size")
                continue
            }
            let n = shape[axis], m = target[axis]
            let factor = Double(n) / Double(m)
            let kernel = antiAliasing && m < n ? gaussianKernel(sigma: (factor - 1) / 2) : nil
            if m == n && kernel == nil && order != .cubic {
                continue // the same sample points: order 0 and 1 give the samples back exactly
            }
            var next = shape
            next[axis] = m
            current = alongAxis(current, shape: shape, axis: axis, count: m, threads: threads) { line, out in
                var samples = line
                if let kernel { samples = correlate(samples, kernel, boundary: boundary) }
                sample(samples, order: order, boundary: boundary, count: m, scale: factor, into: &out)
            }
            shape = next
        }
        return current
    }

    /// Clips `values` to the range of `reference` (scikit-image's `clip=True`: a spline does not
    /// overshoot the input's own minimum and maximum).
    public static func clip(_ values: inout [Float], toRangeOf reference: [Float]) {
        guard let low = reference.min(), let high = reference.max() else { return }
        for i in values.indices { values[i] = min(max(values[i], low), high) }
    }

    /// Applies `body` to every line along `axis` (input samples in Double, output of `count`).
    static func alongAxis(
        _ values: [Float], shape: SIMD3<Int>, axis: Int, count: Int, threads: Int?,
        _ body: @Sendable ([Double], inout [Double]) -> Void
    ) -> [Float] {
        var outShape = shape
        outShape[axis] = count
        let strides = SIMD3(1, shape.x, shape.x * shape.y)
        let outStrides = SIMD3(1, outShape.x, outShape.x * outShape.y)
        // The two other axes, in storage order, enumerate the lines.
        let others = (0..<3).filter { $0 != axis }
        let lines = shape[others[0]] * shape[others[1]]
        var out = [Float](repeating: 0, count: outShape.x * outShape.y * outShape.z)
        values.withUnsafeBufferPointer { source in
            out.withUnsafeMutableBufferPointer { destination in
                nonisolated(unsafe) let (src, dst) = (source, destination)
                parallelFor(lines, threads: threads) { line in
                    let a = line % shape[others[0]], b = line / shape[others[0]]
                    let start = a * strides[others[0]] + b * strides[others[1]]
                    let outStart = a * outStrides[others[0]] + b * outStrides[others[1]]
                    let n = shape[axis], step = strides[axis], outStep = outStrides[axis]
                    var samples = [Double](repeating: 0, count: n)
                    for i in 0..<n { samples[i] = Double(src[start + i * step]) }
                    var result = [Double](repeating: 0, count: count)
                    body(samples, &result)
                    for o in 0..<count { dst[outStart + o * outStep] = Float(result[o]) }
                }
            }
        }
        return out
    }

    /// The line sampled at `count` points, point o at coordinate (o + 0.5) · scale − 0.5.
    static func sample(
        _ line: [Double], order: Order, boundary: Boundary, count: Int, scale: Double, into out: inout [Double]
    ) {
        let n = line.count
        func coordinate(_ o: Int) -> Double { (Double(o) + 0.5) * scale - 0.5 }
        switch order {
        case .nearest:
            for o in 0..<count {
                out[o] = line[index(Int((coordinate(o) + 0.5).rounded(.down)), n, boundary)]
            }
        case .linear:
            for o in 0..<count {
                let c = coordinate(o), lower = c.rounded(.down), f = c - lower
                let l = Int(lower)
                out[o] = line[index(l, n, boundary)] * (1 - f) + line[index(l + 1, n, boundary)] * f
            }
        case .cubic:
            // Coefficients of the padded line (edge) or of the line itself (mirror: the
            // prefilter's own boundary).
            let pad = boundary == .edge ? splinePadding : 0
            var c = [Double](repeating: 0, count: n + 2 * pad)
            for i in 0..<c.count { c[i] = line[min(max(i - pad, 0), n - 1)] }
            if c.count > 1 { BSpline.prefilter(&c) }
            for o in 0..<count {
                let x = coordinate(o) + Double(pad), base = x.rounded(.down)
                let w = BSpline.weights(x - base)
                let b = Int(base)
                out[o] =
                    w.0 * c[BSpline.mirror(b - 1, c.count)] + w.1 * c[BSpline.mirror(b, c.count)]
                    + w.2 * c[BSpline.mirror(b + 1, c.count)] + w.3 * c[BSpline.mirror(b + 2, c.count)]
            }
        }
    }

    /// An index beyond the line mapped back onto it.
    @inline(__always)
    static func index(_ i: Int, _ n: Int, _ boundary: Boundary) -> Int {
        switch boundary {
        case .edge: min(max(i, 0), n - 1)
        case .mirror: BSpline.mirror(i, n)
        }
    }

    /// SciPy's `_gaussian_kernel1d`: radius ⌊4σ + 0.5⌋, weights exp(−x²/2σ²) normalised to 1.
    static func gaussianKernel(sigma: Double) -> [Double]? {
        guard sigma > 1e-15 else { return nil }
        let radius = Int(4 * sigma + 0.5)
        var weights = (-radius...radius).map { exp(-0.5 / (sigma * sigma) * Double($0 * $0)) }
        let sum = weights.reduce(0, +)
        for i in weights.indices { weights[i] /= sum }
        return weights
    }

    /// SciPy's `correlate1d` of the line with a symmetric kernel.
    static func correlate(_ line: [Double], _ kernel: [Double], boundary: Boundary) -> [Double] {
        let n = line.count, radius = kernel.count / 2
        var out = [Double](repeating: 0, count: n)
        for i in 0..<n {
            var sum = 0.0
            for (t, w) in kernel.enumerated() { sum += w * line[index(i + t - radius, n, boundary)] }
            out[i] = sum
        }
        return out
    }
}
