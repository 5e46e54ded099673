// The nnMamba engine (docs/nnmamba-architecture.md). Knows nothing of DICOM.
//
// Memory layout, stated once: every `Tensor` is float32, C-order (row-major), contiguous, with
// 64-byte aligned storage. Volumes are NCDHW (batch, channel, depth, height, width), matching the
// PyTorch weights; Mamba token sequences are [B, L, C] with L = D·H·W and W varying fastest.
// Ops are free functions or methods named after the maths, one per op, with shapes in their doc
// comments; shape errors in engine code are preconditions (our bugs), bad data throws
// `NNMambaError`.

/// A dense float32 tensor with contiguous, 64-byte aligned storage.
///
/// Reference semantics: ops return new tensors and never alias their inputs, except where a doc
/// comment says "in place". A tensor is not shared between threads while being written.
public final class Tensor: @unchecked Sendable {
    /// Extents, outermost first (e.g. [N, C, D, H, W]).
    public let shape: [Int]
    /// Number of elements (product of `shape`).
    public let count: Int
    /// Start of the storage; valid for `count` elements while the tensor lives.
    public let data: UnsafeMutablePointer<Float>

    /// A zero-filled tensor.
    public init(zeros shape: [Int]) {
        precondition(shape.allSatisfy { $0 >= 0 }, "negative extent in \(shape)")
        self.shape = shape
        self.count = shape.reduce(1, *)
        self.data = BufferPool.allocate(floats: count)
        data.initialize(repeating: 0, count: max(count, 1))
    }

    /// A tensor whose contents are unspecified, for op outputs that overwrite every element
    /// (skips a single-threaded zeroing pass over fresh pages).
    init(uninitialized shape: [Int]) {
        precondition(shape.allSatisfy { $0 >= 0 }, "negative extent in \(shape)")
        self.shape = shape
        self.count = shape.reduce(1, *)
        self.data = BufferPool.allocate(floats: count)
    }

    /// A tensor holding `values` (row-major) with the given shape.
    public convenience init(shape: [Int], values: [Float]) {
        self.init(zeros: shape)
        precondition(values.count == count, "\(values.count) values for shape \(shape)")
        values.withUnsafeBufferPointer { data.update(from: $0.baseAddress!, count: count) }
    }

    /// A tensor of the given shape filled by `body(flatIndex)`.
    public convenience init(shape: [Int], _ body: (Int) -> Float) {
        self.init(zeros: shape)
        for i in 0..<count { data[i] = body(i) }
    }

    deinit { BufferPool.release(data, floats: count) }

    /// Number of dimensions.
    public var rank: Int { shape.count }

    /// A copy of the values as an array (row-major).
    public var values: [Float] { Array(UnsafeBufferPointer(start: data, count: count)) }

    /// Reads element `i` of the flattened tensor.
    @inline(__always) public subscript(_ i: Int) -> Float {
        get { data[i] }
        set { data[i] = newValue }
    }

    /// A copy with a different shape of the same element count.
    public func reshaped(_ newShape: [Int]) -> Tensor {
        let t = Tensor(zeros: newShape)
        precondition(t.count == count, "reshape \(shape) -> \(newShape)")
        t.data.update(from: data, count: count)
        return t
    }

    /// A deep copy.
    public func copy() -> Tensor { reshaped(shape) }

    /// Largest absolute value (0 for an empty tensor).
    public var maxAbs: Float {
        var m: Float = 0
        for i in 0..<count { m = max(m, abs(data[i])) }
        return m
    }

    /// max |self − other| over all elements; the shapes must have equal element counts.
    public func maxAbsDifference(_ other: Tensor) -> Float {
        precondition(count == other.count, "compare \(shape) with \(other.shape)")
        var m: Float = 0
        for i in 0..<count { m = max(m, abs(data[i] - other.data[i])) }
        return m
    }
}

extension Tensor {
    /// Spatial voxel count D·H·W of an NCDHW tensor.
    @inlinable public var voxelCount: Int {
        precondition(rank == 5, "expected NCDHW, got \(shape)")
        return shape[2] * shape[3] * shape[4]
    }

    /// Pointer to channel `c` of batch item `n` of an NCDHW tensor ([D, H, W] contiguous).
    @inlinable public func channel(_ n: Int, _ c: Int) -> UnsafeMutablePointer<Float> {
        data + (n * shape[1] + c) * voxelCount
    }
}
