/// A landmark decoded from one heat-map channel, in voxel coordinates of the network input.
public struct Landmark: Sendable, Equatable {
    /// Voxel (d, h, w) of the channel's maximum (first in row-major order on ties).
    public let voxel: [Int]
    /// Position in voxel units (d, h, w): the voxel itself, or the refined sub-voxel estimate.
    public let position: [Double]
    /// Heat-map value at `voxel`.
    public let peak: Float
}

/// Landmark decoding: per-channel argmax over D·H·W (the conventional rule; upstream has none).
///
/// `refine` is **our addition**, not upstream: it moves the position to the centroid of the
/// non-negative heat-map values in the 3×3×3 neighbourhood of the peak (clipped at the borders).
/// Conversion to physical coordinates (spacing, direction) belongs to the caller's geometry.
///
/// heatmaps: [N, K, D, H, W] -> N arrays of K landmarks.
public func decodeLandmarks(_ heatmaps: Tensor, refine: Bool = false) -> [[Landmark]] {
    precondition(heatmaps.rank == 5, "landmarks expect NCDHW, got \(heatmaps.shape)")
    let (n, k, d, h, w) = (heatmaps.shape[0], heatmaps.shape[1], heatmaps.shape[2], heatmaps.shape[3], heatmaps.shape[4])
    let v = d * h * w
    return (0..<n).map { b in
        (0..<k).map { ch in
            let p = heatmaps.channel(b, ch)
            var best = 0
            for i in 1..<v where p[i] > p[best] { best = i }
            let voxel = [best / (h * w), (best / w) % h, best % w]
            var position = voxel.map(Double.init)
            if refine {
                var total = 0.0, acc = [0.0, 0.0, 0.0]
                for dz in -1...1 { for dy in -1...1 { for dx in -1...1 {
                    let q = [voxel[0] + dz, voxel[1] + dy, voxel[2] + dx]
                    guard q[0] >= 0, q[0] < d, q[1] >= 0, q[1] < h, q[2] >= 0, q[2] < w else { continue }
                    let value = Double(max(p[(q[0] * h + q[1]) * w + q[2]], 0))
                    total += value
                    for a in 0..<3 { acc[a] += value * Double(q[a]) }
                } } }
                if total > 0 { position = acc.map { $0 / total } }
            }
            return Landmark(voxel: voxel, position: position, peak: p[best])
        }
    }
}

/// Classification output: logit → probability of the positive class (sigmoid), and the label at
/// a threshold (0.5 upstream: 1 = AD for NC-vs-AD, pMCI for sMCI-vs-pMCI).
public struct BinaryClassification: Sendable, Equatable {
    public let logit: Float
    public var probability: Float { 1 / (1 + expf(-logit)) }

    public init(logit: Float) { self.logit = logit }

    public func isPositive(threshold: Float = 0.5) -> Bool { probability >= threshold }
}

#if canImport(Glibc)
import Glibc
#endif
