/// Per-channel intensity normalisation before the network (nnU-Net v1 conventions, §6).
public enum IntensityNormalization: Sendable, Equatable {
    /// Per-image z-score: (x − mean)/(std + 1e-8). With `nonZeroMask`, statistics come from the
    /// voxels where any channel is non-zero and voxels outside that mask are set to 0 (MRI).
    case zScore(nonZeroMask: Bool)
    /// CT: clip to [lower, upper] (dataset foreground percentiles), then (x − mean)/std with the
    /// dataset statistics shipped with the model.
    case ct(lower: Float, upper: Float, mean: Float, std: Float)

    /// x: [N, C, D, H, W] -> same shape, normalised per batch item and channel.
    public func apply(_ x: Tensor) -> Tensor {
        precondition(x.rank == 5, "normalisation expects NCDHW, got \(x.shape)")
        let out = x.copy()
        let (n, c, v) = (x.shape[0], x.shape[1], x.voxelCount)
        for b in 0..<n {
            var mask: [Bool]? = nil
            if case .zScore(true) = self {
                mask = (0..<v).map { i in (0..<c).contains { x[(b * c + $0) * v + i] != 0 } }
            }
            for ch in 0..<c {
                let p = out.channel(b, ch)
                switch self {
                case .ct(let lower, let upper, let mean, let std):
                    let inv = 1 / max(std, 1e-8)
                    for i in 0..<v { p[i] = (min(max(p[i], lower), upper) - mean) * inv }
                case .zScore:
                    var sum = 0.0, sq = 0.0, count = 0
                    for i in 0..<v where mask?[i] ?? true {
                        sum += Double(p[i])
                        sq += Double(p[i]) * Double(p[i])
                        count += 1
                    }
                    let mean = count > 0 ? sum / Double(count) : 0
                    let std = count > 0 ? max(sq / Double(count) - mean * mean, 0).squareRoot() : 0
                    let inv = 1 / (std + 1e-8)
                    for i in 0..<v {
                        p[i] = (mask?[i] ?? true) ? Float((Double(p[i]) - mean) * inv) : 0
                    }
                }
            }
        }
        return out
    }
}
