// Volume ops on NCDHW tensors: pooling, gating, concatenation, upsampling.

/// Global average over D, H, W.
///
/// x: [N, C, D, H, W] -> [N, C]. Sums in double precision.
public func globalAveragePool(_ x: Tensor) -> Tensor {
    precondition(x.rank == 5, "pool expects NCDHW, got \(x.shape)")
    let n = x.shape[0], c = x.shape[1], v = x.voxelCount
    let out = Tensor(zeros: [n, c])
    let src = x.data, dst = out.data
    Parallel.forChunks(n * c) { r in
        for row in r {
            var s = 0.0
            let p = src + row * v
            for i in 0..<v { s += Double(p[i]) }
            dst[row] = Float(s / Double(v))
        }
    }
    return out
}

/// The spatial axes in reverse order, in a new tensor: [N, C, A, B, D] -> [N, C, D, B, A], so an
/// array in (k, j, i) order becomes (i, j, k) and back (docs/official-input-layouts.md).
public func reversingSpatialAxes(_ x: Tensor) -> Tensor {
    precondition(x.rank == 5, "expected NCDHW, got \(x.shape)")
    let (a, b, d) = (x.shape[2], x.shape[3], x.shape[4])
    let out = Tensor(uninitialized: [x.shape[0], x.shape[1], d, b, a])
    let v = x.voxelCount, src = x.data, dst = out.data
    Parallel.forChunks(x.shape[0] * x.shape[1]) { r in
        for plane in r {
            let from = src + plane * v, to = dst + plane * v
            for p in 0..<a {
                for q in 0..<b {
                    let row = from + (p * b + q) * d
                    // out[r, q, p] = x[p, q, r]
                    for r in 0..<d { to[(r * b + q) * a + p] = row[r] }
                }
            }
        }
    }
    return out
}

/// The spatial axes permuted, in a new tensor: output spatial axis a is input spatial axis
/// `permutation[a]` (nnU-Net's `transpose_forward` on the spatial axes of [N, C, D, H, W]).
/// `inversePermutation` gives the permutation that undoes it.
public func permutingSpatialAxes(_ x: Tensor, _ permutation: [Int]) -> Tensor {
    precondition(x.rank == 5 && permutation.sorted() == [0, 1, 2], "permutation \(permutation) of \(x.shape)")
    if permutation == [0, 1, 2] { return x }
    if permutation == [2, 1, 0] { return reversingSpatialAxes(x) }
    let inShape = Array(x.shape[2...])
    let outShape = permutation.map { inShape[$0] }
    let out = Tensor(uninitialized: [x.shape[0], x.shape[1]] + outShape)
    let inStrides = [inShape[1] * inShape[2], inShape[2], 1]
    // Stepping output index (p, q, r) moves the input by these strides.
    let (s0, s1, s2) = (inStrides[permutation[0]], inStrides[permutation[1]], inStrides[permutation[2]])
    let v = x.voxelCount, src = x.data, dst = out.data
    let (a, b, d) = (outShape[0], outShape[1], outShape[2])
    Parallel.forChunks(x.shape[0] * x.shape[1]) { r in
        for plane in r {
            let from = src + plane * v, to = dst + plane * v
            for p in 0..<a {
                for q in 0..<b {
                    let row = to + (p * b + q) * d, start = p * s0 + q * s1
                    for r in 0..<d { row[r] = from[start + r * s2] }
                }
            }
        }
    }
    return out
}

/// The permutation that undoes `permutation` (see ``permutingSpatialAxes(_:_:)``).
public func inversePermutation(_ permutation: [Int]) -> [Int] {
    var inverse = [0, 0, 0]
    for (a, p) in permutation.enumerated() { inverse[p] = a }
    return inverse
}

/// Multiplies every channel by its gate value, in a new tensor.
///
/// x: [N, C, D, H, W], gate: [N, C] -> [N, C, D, H, W].
public func scaleChannels(_ x: Tensor, by gate: Tensor) -> Tensor {
    precondition(
        x.rank == 5 && gate.shape == [x.shape[0], x.shape[1]],
        "gate \(gate.shape) for \(x.shape)")
    let out = Tensor(uninitialized: x.shape)
    let v = x.voxelCount, src = x.data, dst = out.data, g = gate.data
    Parallel.forChunks(x.shape[0] * x.shape[1]) { r in
        for row in r {
            let s = g[row]
            for i in 0..<v { dst[row * v + i] = src[row * v + i] * s }
        }
    }
    return out
}

/// Concatenation along the channel axis, in order.
///
/// inputs: [N, C_i, D, H, W] -> [N, Σ C_i, D, H, W].
public func concatChannels(_ inputs: [Tensor]) -> Tensor {
    let first = inputs[0]
    precondition(
        inputs.allSatisfy {
            $0.rank == 5 && $0.shape[0] == first.shape[0]
                && Array($0.shape[2...]) == Array(first.shape[2...])
        },
        "concat \(inputs.map(\.shape))")
    let c = inputs.reduce(0) { $0 + $1.shape[1] }
    var shape = first.shape
    shape[1] = c
    let out = Tensor(zeros: shape)
    let v = first.voxelCount
    for b in 0..<first.shape[0] {
        var offset = 0
        for x in inputs {
            let cx = x.shape[1]
            out.channel(b, offset).update(from: x.channel(b, 0), count: cx * v)
            offset += cx
        }
    }
    return out
}

/// Trilinear ×2 upsampling with align_corners = false (PyTorch `nn.Upsample(scale_factor: 2)`).
///
/// x: [N, C, D, H, W] -> [N, C, 2D, 2H, 2W]. Per axis of length n: output 2i = 0.75·x[i] +
/// 0.25·x[max(i−1, 0)], output 2i+1 = 0.75·x[i] + 0.25·x[min(i+1, n−1)].
public func upsampleTrilinear2x(_ x: Tensor) -> Tensor {
    precondition(x.rank == 5, "upsample expects NCDHW, got \(x.shape)")
    let (n, c, d, h, w) = (x.shape[0], x.shape[1], x.shape[2], x.shape[3], x.shape[4])
    let out = Tensor(uninitialized: [n, c, 2 * d, 2 * h, 2 * w])
    let src = x.data, dst = out.data
    /// Source indices and weights of output index j along an axis of length m.
    func taps(_ j: Int, _ m: Int) -> (Int, Int, Float, Float) {
        let i = j / 2
        let other = j % 2 == 0 ? max(i - 1, 0) : min(i + 1, m - 1)
        return (i, other, 0.75, 0.25)
    }
    Parallel.forChunks(n * c) { r in
        let row = UnsafeMutablePointer<Float>.allocate(capacity: w)
        defer { row.deallocate() }
        for plane in r {
            let s = src + plane * d * h * w
            let o = dst + plane * 8 * d * h * w
            for oz in 0..<(2 * d) {
                let (z0, z1, wz0, wz1) = taps(oz, d)
                for oy in 0..<(2 * h) {
                    let (y0, y1, wy0, wy1) = taps(oy, h)
                    let r00 = s + (z0 * h + y0) * w, r01 = s + (z0 * h + y1) * w
                    let r10 = s + (z1 * h + y0) * w, r11 = s + (z1 * h + y1) * w
                    for i in 0..<w {
                        row[i] = wz0 * (wy0 * r00[i] + wy1 * r01[i]) + wz1 * (wy0 * r10[i] + wy1 * r11[i])
                    }
                    let orow = o + (oz * 2 * h + oy) * 2 * w
                    for i in 0..<w {
                        orow[2 * i] = 0.75 * row[i] + 0.25 * row[max(i - 1, 0)]
                        orow[2 * i + 1] = 0.75 * row[i] + 0.25 * row[min(i + 1, w - 1)]
                    }
                }
            }
        }
    }
    return out
}
