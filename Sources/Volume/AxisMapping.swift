/// How the index axes of a target grid lie on those of a source grid when every target axis
/// runs parallel to one source axis (same or opposite direction): target index i along axis a
/// is source coordinate `offset[a] + scale[a] · i` along source axis `sourceAxis[a]`.
///
/// This is the case for every resampling of the inference recipe (docs/inference.md): a grid
/// and its canonical reorientation share their voxel centres with the axes permuted, and the
/// resampled grid keeps the canonical directions with another spacing. Such a resampling is
/// separable: it is done one axis at a time, and each target voxel costs a few taps per axis
/// instead of a 3-D neighbourhood with its own coordinate transform.
struct AxisMapping: Equatable {
    /// Off-axis terms of the index mapping up to this fraction of the on-axis term count as
    /// round-off (parallel grids give ~1e-16; a tilt of 0.001° gives ~2e-5).
    static let tolerance = 1e-12

    var sourceAxis: [Int]
    var scale: [Double]
    var offset: [Double]

    /// The mapping from `target` indices into `source` indices, or nil when some target axis is
    /// not parallel to a source axis (a rotation or shear: resample point by point).
    init?(from source: Geometry, to target: Geometry) {
        guard let inverse = source.indexToPatientMatrix.inverse else { return nil }
        let m = inverse * target.indexToPatientMatrix
        let t = inverse * (target.origin - source.origin)
        sourceAxis = []
        scale = []
        offset = []
        for a in 0..<3 {
            let column = m[column: a]
            let r = (0..<3).max { abs(column[$0]) < abs(column[$1]) }!
            let onAxis = abs(column[r])
            guard onAxis > 0, (0..<3).allSatisfy({ $0 == r || abs(column[$0]) <= Self.tolerance * onAxis }) else {
                return nil
            }
            sourceAxis.append(r)
            scale.append(column[r])
            offset.append(t[r])
        }
        guard Set(sourceAxis).count == 3 else { return nil }
    }

    /// Target axis a runs along source axis a for every a (no permutation).
    var keepsAxisOrder: Bool { sourceAxis == [0, 1, 2] }

    /// The continuous source coordinate of target index `i` along target axis `a`.
    @inline(__always)
    func coordinate(_ a: Int, _ i: Int) -> Double { offset[a] + scale[a] * Double(i) }
}

/// Where each target index along one axis reads its source line: `width` taps per index, with
/// their weights, and whether the index lies inside the source's field of view at all.
struct AxisTaps {
    let width: Int
    let count: Int
    var index: [Int]
    var weight: [Double]
    var inside: [Bool]

    /// Every index inside the field of view.
    var allInside: Bool { !inside.contains(false) }

    private init(width: Int, count: Int) {
        self.width = width
        self.count = count
        index = [Int](repeating: 0, count: width * count)
        weight = [Double](repeating: 0, count: width * count)
        inside = [Bool](repeating: false, count: count)
    }

    /// Nearest neighbour, as `Sampler.nearest` decides it along one axis (on the line grown by
    /// one repeated sample at each end with `extendingEdges`).
    static func nearest(source n: Int, count: Int, extendingEdges: Bool, coordinate: (Int) -> Double) -> AxisTaps {
        var taps = AxisTaps(width: 1, count: count)
        let grow = extendingEdges ? 1 : 0
        for t in 0..<count {
            let c = coordinate(t) + Double(grow)
            let i = Int((c + 0.5).rounded(.down))
            guard i >= 0, i < n + 2 * grow, c >= -0.5 - Sampler.slack else { continue }
            taps.index[t] = min(max(i - grow, 0), n - 1)
            taps.weight[t] = 1
            taps.inside[t] = true
        }
        return taps
    }

    /// Linear, as `Sampler.axis` decides it: taps (lower, lower + 1), weight[1] the fraction.
    /// With `extendingEdges` the line counts as grown by one repeated sample at each end
    /// (`Volume.edgePadded`), without materialising it.
    static func linear(source n: Int, count: Int, extendingEdges: Bool, coordinate: (Int) -> Double) -> AxisTaps {
        var taps = AxisTaps(width: 2, count: count)
        let grow = extendingEdges ? 1 : 0, extended = n + 2 * grow
        for t in 0..<count {
            guard let (lower, f) = Sampler.axis(coordinate(t) + Double(grow), extended) else { continue }
            let upper = extended > 1 ? lower + 1 : lower
            taps.index[2 * t] = min(max(lower - grow, 0), n - 1)
            taps.index[2 * t + 1] = min(max(upper - grow, 0), n - 1)
            taps.weight[2 * t] = 1 - f
            taps.weight[2 * t + 1] = f
            taps.inside[t] = true
        }
        return taps
    }

    /// Cubic B-spline, as `BSpline.sample` decides it: four taps into the line of spline
    /// coefficients (of the line grown by one repeated sample at each end with
    /// `extendingEdges`), mirrored at its ends.
    static func bspline(source n: Int, count: Int, extendingEdges: Bool, coordinate: (Int) -> Double) -> AxisTaps {
        var taps = AxisTaps(width: 4, count: count)
        let grow = extendingEdges ? 1 : 0, extended = n + 2 * grow
        for t in 0..<count {
            let c = coordinate(t) + Double(grow)
            guard c >= -Sampler.slack, c <= Double(extended - 1) + Sampler.slack else { continue }
            let base = c.rounded(.down)
            let w = BSpline.weights(c - base)
            let weights = [w.0, w.1, w.2, w.3]
            for d in 0..<4 {
                taps.index[4 * t + d] = BSpline.mirror(Int(base) + d - 1, extended)
                taps.weight[4 * t + d] = weights[d]
            }
            taps.inside[t] = true
        }
        return taps
    }
}
