/// nnU-Net-style sliding-window prediction (§6): patches at a step of `stepFraction`·patch,
/// per-patch softmax, Gaussian importance weighting (σ = patch/8), optional test-time mirroring
/// over any subset of the three spatial axes (all 2^k flip combinations averaged).
public struct SlidingWindow: Sendable {
    /// Patch size (D, H, W) the network runs at.
    public let patch: [Int]
    public let stepFraction: Double
    /// Spatial axes (0 = D, 1 = H, 2 = W) to mirror over; empty for no mirroring.
    public let mirrorAxes: [Int]

    public init(patch: [Int], stepFraction: Double = 0.5, mirrorAxes: [Int] = []) {
        precondition(patch.count == 3 && patch.allSatisfy { $0 > 0 }, "patch \(patch)")
        precondition(stepFraction > 0 && stepFraction <= 1, "step \(stepFraction)")
        precondition(Set(mirrorAxes).isSubset(of: [0, 1, 2]), "mirror axes \(mirrorAxes)")
        self.patch = patch
        self.stepFraction = stepFraction
        self.mirrorAxes = Array(Set(mirrorAxes)).sorted()
    }

    /// Patch start positions along one axis (nnU-Net's compute_steps_for_sliding_window):
    /// evenly spread so the first starts at 0 and the last ends at the image border.
    public static func starts(imageSize: Int, patchSize: Int, stepFraction: Double) -> [Int] {
        precondition(imageSize >= patchSize, "image \(imageSize) < patch \(patchSize)")
        let target = Double(patchSize) * stepFraction
        let count = Int((Double(imageSize - patchSize) / target).rounded(.up)) + 1
        guard count > 1 else { return [0] }
        let step = Double(imageSize - patchSize) / Double(count - 1)
        return (0..<count).map { Int((step * Double($0)).rounded()) }
    }

    /// Gaussian importance map over the patch: σ = size/8 per axis, centred at size/2, scaled to
    /// a maximum of 1, zeros replaced by the smallest positive value. [D, H, W] flattened.
    public static func gaussian(_ patch: [Int]) -> [Float] {
        let axes = patch.map { n -> [Double] in
            let sigma = Double(n) / 8, centre = Double(n / 2)
            return (0..<n).map { i in exp(-0.5 * pow((Double(i) - centre) / sigma, 2)) }
        }
        var g = [Float]()
        g.reserveCapacity(patch.reduce(1, *))
        for a in axes[0] { for b in axes[1] { for c in axes[2] { g.append(Float(a * b * c)) } } }
        let maxValue = g.max() ?? 1
        g = g.map { $0 / maxValue }
        let minPositive = g.filter { $0 > 0 }.min() ?? 1
        return g.map { $0 > 0 ? $0 : minPositive }
    }

    /// x: [1, C, D, H, W] (any size; padded to the patch where smaller) -> class probabilities
    /// [1, K, D, H, W]. `network` maps [1, C, pD, pH, pW] to [1, K, pD, pH, pW] scores.
    ///
    /// With `softmax` false the raw scores are averaged instead (landmark heat-maps, whose
    /// channels are not competing classes: a softmax across them would move each channel's peak).
    public func predict(_ x: Tensor, softmax: Bool = true, network: (Tensor) -> Tensor) -> Tensor {
        // The windows allocate the same sizes over and over: keep those buffers between them.
        BufferPool.reusing { predictWindows(x, softmax: softmax, network: network) }
    }

    private func predictWindows(_ x: Tensor, softmax: Bool, network: (Tensor) -> Tensor) -> Tensor {
        precondition(x.rank == 5 && x.shape[0] == 1, "sliding window expects [1, C, D, H, W], got \(x.shape)")
        let padding = Padding(from: Array(x.shape[2...]), to: zip(x.shape[2...], patch).map { max($0, $1) })
        let image = padding.pad(x)
        let size = Array(image.shape[2...])
        let starts = (0..<3).map { Self.starts(imageSize: size[$0], patchSize: patch[$0], stepFraction: stepFraction) }
        let weight = Self.gaussian(patch)
        let pv = patch.reduce(1, *), iv = size.reduce(1, *)
        var sum: Tensor? = nil
        var weightSum = [Float](repeating: 0, count: iv)
        for z0 in starts[0] {
            for y0 in starts[1] {
                for x0 in starts[2] {
                    let window = extract(image, at: [z0, y0, x0])
                    let probs = mirroredProbabilities(window, softmax: softmax, network: network)
                    let k = probs.shape[1]
                    if sum == nil { sum = Tensor(zeros: [1, k] + size) }
                    let acc = sum!
                    for i in 0..<pv {
                        let (pz, py, px) = (i / (patch[1] * patch[2]), (i / patch[2]) % patch[1], i % patch[2])
                        let j = ((z0 + pz) * size[1] + y0 + py) * size[2] + x0 + px
                        weightSum[j] += weight[i]
                        for c in 0..<k { acc[c * iv + j] += weight[i] * probs[c * pv + i] }
                    }
                }
            }
        }
        let acc = sum!
        for c in 0..<acc.shape[1] { for j in 0..<iv { acc[c * iv + j] /= weightSum[j] } }
        return padding.crop(acc)
    }

    /// Softmax probabilities (or raw scores) averaged over every flip combination of `mirrorAxes`.
    private func mirroredProbabilities(_ window: Tensor, softmax: Bool, network: (Tensor) -> Tensor) -> Tensor {
        var total: Tensor? = nil
        let combos = 1 << mirrorAxes.count
        for mask in 0..<combos {
            let axes = mirrorAxes.enumerated().filter { mask & (1 << $0.offset) != 0 }.map(\.element)
            let scores = flip(network(flip(window, axes)), axes)
            let probs = softmax ? softmaxChannels(scores) : scores
            if let t = total { t.addInPlace(probs) } else { total = probs }
        }
        let t = total!
        let scale = 1 / Float(combos)
        for i in 0..<t.count { t[i] *= scale }
        return t
    }

    private func extract(_ image: Tensor, at origin: [Int]) -> Tensor {
        let (c, d, h, w) = (image.shape[1], image.shape[2], image.shape[3], image.shape[4])
        let out = Tensor(zeros: [1, c] + patch)
        for ch in 0..<c {
            for z in 0..<patch[0] {
                for y in 0..<patch[1] {
                    (out.data + ((ch * patch[0] + z) * patch[1] + y) * patch[2])
                        .update(
                            from: image.data + ((ch * d + origin[0] + z) * h + origin[1] + y) * w + origin[2],
                            count: patch[2])
                }
            }
        }
        return out
    }
}

/// Reverses the given spatial axes (0 = D, 1 = H, 2 = W) of an NCDHW tensor, in a new tensor.
public func flip(_ x: Tensor, _ axes: [Int]) -> Tensor {
    guard !axes.isEmpty else { return x }
    let (planes, d, h, w) = (x.shape[0] * x.shape[1], x.shape[2], x.shape[3], x.shape[4])
    let (fd, fh, fw) = (axes.contains(0), axes.contains(1), axes.contains(2))
    let out = Tensor(zeros: x.shape)
    for p in 0..<planes {
        for z in 0..<d {
            for y in 0..<h {
                for i in 0..<w {
                    let sz = fd ? d - 1 - z : z, sy = fh ? h - 1 - y : y, sx = fw ? w - 1 - i : i
                    out[((p * d + z) * h + y) * w + i] = x[((p * d + sz) * h + sy) * w + sx]
                }
            }
        }
    }
    return out
}

/// Per-voxel argmax over channels, ties to the lowest class (as PyTorch/NumPy).
///
/// x: [N, C, D, H, W] -> labels [N·D·H·W] (row-major N, D, H, W).
public func argmaxChannels(_ x: Tensor) -> [Int32] {
    precondition(x.rank == 5 && x.shape[1] >= 1, "argmax expects NCDHW, got \(x.shape)")
    let (n, c, v) = (x.shape[0], x.shape[1], x.voxelCount)
    var labels = [Int32](repeating: 0, count: n * v)
    for b in 0..<n {
        for i in 0..<v {
            var best = 0
            var value = x[b * c * v + i]
            for k in 1..<c where x[(b * c + k) * v + i] > value {
                value = x[(b * c + k) * v + i]
                best = k
            }
            labels[b * v + i] = Int32(best)
        }
    }
    return labels
}

#if canImport(Glibc)
    import Glibc
#endif
