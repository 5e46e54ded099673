/// Intermediate tensors recorded during a forward pass, in the order they were produced.
///
/// Modules record under the names of the golden fixtures (Tests/Fixtures/golden/nnmamba/README.md)
/// when a trace is passed; a network passes `nil` to its sub-modules, so names never collide.
/// Tracing costs copies and is meant for verification, not production.
public final class Trace {
    public private(set) var names: [String] = []
    public private(set) var tensors: [String: Tensor] = [:]

    public init() {}

    /// Records a copy of `tensor` under `name` (replacing an earlier one of the same name).
    public func record(_ name: String, _ tensor: Tensor) {
        if tensors[name] == nil { names.append(name) }
        tensors[name] = tensor.copy()
    }
}

/// [rows, cols] -> [cols, rows] transpose of a row-major matrix, into `dst` with row stride
/// `dstStride` (≥ rows).
func transpose(
    _ src: UnsafePointer<Float>, rows: Int, cols: Int, srcStride: Int,
    into dst: UnsafeMutablePointer<Float>, dstStride: Int
) {
    for r in 0..<rows {
        for c in 0..<cols { dst[c * dstStride + r] = src[r * srcStride + c] }
    }
}
