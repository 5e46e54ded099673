/// A landmark decoded from one heat-map channel, in voxel coordinates of the network input.
public struct Landmark: Sendable, Equatable {
    /// Voxel (d, h, w) of the channel's maximum (first in row-major order on ties).
    public let voxel: [Int]
    /// Position in voxel units (d, h, w): the voxel itself, or the refined sub-voxel estimate.
    public let position: [Double]
    /// Heat-map value at `voxel`.
    public let peak: Float
}

/// How a landmark's position is refined from its peak voxel (**our addition**, not upstream).
public enum LandmarkRefinement: String, Sendable, CaseIterable {
    /// The peak voxel itself (the conventional rule).
    case peak
    /// The centroid of the non-negative values in the 3×3×3 neighbourhood of the peak.
    case centroid
    /// Per axis, the vertex of the parabola through the peak and its two neighbours (clamped to
    /// ±½ voxel; none where the peak is on a border or the three values are not concave). Exact
    /// when the heat-map is a log-Gaussian around the landmark, which is what a network trained
    /// with a spatial-softmax loss produces (Tools/train.py --landmark-loss softmax): its values
    /// near the peak fall off as c − d²/(2σ²), almost flat across three voxels, so the centroid
    /// barely moves from the peak voxel there.
    case parabolic
}

/// Landmark decoding: per-channel argmax over D·H·W (the conventional rule; upstream has none),
/// then `refinement`. Conversion to physical coordinates (spacing, direction) belongs to the
/// caller's geometry.
///
/// heatmaps: [N, K, D, H, W] -> N arrays of K landmarks.
public func decodeLandmarks(_ heatmaps: Tensor, refinement: LandmarkRefinement = .peak) -> [[Landmark]] {
    precondition(heatmaps.rank == 5, "landmarks expect NCDHW, got \(heatmaps.shape)")
    let (n, k, d, h, w) = (
        heatmaps.shape[0], heatmaps.shape[1], heatmaps.shape[2], heatmaps.shape[3], heatmaps.shape[4]
    )
    let v = d * h * w
    let size = [d, h, w]
    return (0..<n).map { b in
        (0..<k).map { ch in
            let p = heatmaps.channel(b, ch)
            var best = 0
            for i in 1..<v where p[i] > p[best] { best = i }
            let voxel = [best / (h * w), (best / w) % h, best % w]
            let at = { (q: [Int]) in Double(p[(q[0] * h + q[1]) * w + q[2]]) }
            var position = voxel.map(Double.init)
            switch refinement {
            case .peak:
                break
            case .centroid:
                var total = 0.0, acc = [0.0, 0.0, 0.0]
                for dz in -1...1 {
                    for dy in -1...1 {
                        for dx in -1...1 {
                            let q = [voxel[0] + dz, voxel[1] + dy, voxel[2] + dx]
                            guard q[0] >= 0, q[0] < d, q[1] >= 0, q[1] < h, q[2] >= 0, q[2] < w else { continue }
                            let value = max(at(q), 0)
                            total += value
                            for a in 0..<3 { acc[a] += value * Double(q[a]) }
                        }
                    }
                }
                if total > 0 { position = acc.map { $0 / total } }
            case .parabolic:
                for axis in 0..<3 where voxel[axis] > 0 && voxel[axis] < size[axis] - 1 {
                    var before = voxel, after = voxel
                    before[axis] -= 1
                    after[axis] += 1
                    let (a, c) = (at(before), at(after))
                    let curvature = a - 2 * at(voxel) + c
                    guard curvature < 0 else { continue }
                    position[axis] += min(max(0.5 * (a - c) / curvature, -0.5), 0.5)
                }
            }
            return Landmark(voxel: voxel, position: position, peak: p[best])
        }
    }
}

/// Classification output: logit → probability of the positive class (sigmoid), and the label at
/// a threshold (0.5 upstream: 1 = AD for NC-vs-AD, pMCI for sMCI-vs-pMCI).
///
/// The sigmoid is taken in Double: in Float every logit above ~17 gives exactly 1 (and below ~−88
/// exactly 0), so confident cases would all report the same probability and lose the model's
/// ranking of them, which the SR carries to 15 significant digits.
public struct BinaryClassification: Sendable, Equatable {
    public let logit: Double
    public var probability: Double { 1 / (1 + exp(-logit)) }

    public init(logit: Double) { self.logit = logit }

    public func isPositive(threshold: Double = 0.5) -> Bool { probability >= threshold }
}

#if canImport(Glibc)
    import Glibc
#endif
