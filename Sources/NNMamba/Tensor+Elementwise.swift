import CNNKernels

// Element-wise activations. All are in place on a tensor the caller owns; shapes unchanged.

extension Tensor {
    /// x ← max(x, 0). Any shape.
    public func reluInPlace() { unary(Int32(MN_UNARY_RELU)) }

    /// x ← x·sigmoid(x). Any shape.
    public func siluInPlace() { unary(Int32(MN_UNARY_SILU)) }

    /// x ← 1/(1 + e^−x). Any shape.
    public func sigmoidInPlace() { unary(Int32(MN_UNARY_SIGMOID)) }

    /// x ← log(1 + e^x), or x when x > 20 (PyTorch's default threshold). Any shape.
    public func softplusInPlace() { unary(Int32(MN_UNARY_SOFTPLUS)) }

    private func unary(_ op: Int32) {
        let n = count, p = data
        Parallel.forChunks(n, granularity: 4096) { r in
            mn_unary_inplace(p + r.lowerBound, Int64(r.count), op)
        }
    }

    /// self ← self + other, element-wise; equal shapes.
    public func addInPlace(_ other: Tensor) {
        precondition(shape == other.shape, "add \(shape) + \(other.shape)")
        let a = data, b = other.data
        Parallel.forChunks(count, granularity: 4096) { r in
            for i in r { a[i] += b[i] }
        }
    }

    /// self ← max(self + other, 0), element-wise; equal shapes (the residual join of BasicBlock).
    public func addReLUInPlace(_ other: Tensor) {
        precondition(shape == other.shape, "add \(shape) + \(other.shape)")
        let a = data, b = other.data
        Parallel.forChunks(count, granularity: 4096) { r in
            for i in r { a[i] = max(a[i] + b[i], 0) }
        }
    }
}

/// Softmax over the channel axis of an NCDHW tensor, in a new tensor.
///
/// x: [N, C, D, H, W] -> [N, C, D, H, W], values in (0, 1) summing to 1 over C per voxel.
public func softmaxChannels(_ x: Tensor) -> Tensor {
    precondition(x.rank == 5, "softmax expects NCDHW, got \(x.shape)")
    let out = Tensor(zeros: x.shape)
    let n = x.shape[0], c = x.shape[1], v = x.voxelCount
    let src = x.data, dst = out.data
    for b in 0..<n {
        let base = b * c * v
        Parallel.forChunks(v, granularity: 1024) { r in
            for i in r {
                var m = -Float.infinity
                for k in 0..<c { m = max(m, src[base + k * v + i]) }
                var s: Float = 0
                for k in 0..<c {
                    let e = expf(src[base + k * v + i] - m)
                    dst[base + k * v + i] = e
                    s += e
                }
                let inv = 1 / s
                for k in 0..<c { dst[base + k * v + i] *= inv }
            }
        }
    }
    return out
}

#if canImport(Glibc)
    import Glibc
#endif
