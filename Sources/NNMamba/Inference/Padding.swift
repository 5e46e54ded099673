/// Zero padding of the spatial axes and its inverse crop.
public struct Padding: Sendable, Equatable {
    /// Voxels added before and after, per spatial axis (D, H, W).
    public let before: [Int], after: [Int]

    /// The padding that brings `spatial` up to `target` per axis (no axis shrinks), split as
    /// nnU-Net does: ⌊diff/2⌋ before, the rest after.
    public init(from spatial: [Int], to target: [Int]) {
        precondition(spatial.count == 3 && target.count == 3, "padding \(spatial) to \(target)")
        let diff = zip(spatial, target).map { max($1 - $0, 0) }
        before = diff.map { $0 / 2 }
        after = zip(diff, before).map { $0 - $1 }
    }

    /// The padding to the next multiple of `multiple` per axis (16 for nnMambaSeg).
    public init(toMultipleOf multiple: Int, spatial: [Int]) {
        self.init(from: spatial, to: spatial.map { ($0 + multiple - 1) / multiple * multiple })
    }

    /// x: [N, C, D, H, W] -> [N, C, D + pad, H + pad, W + pad], zeros outside.
    public func pad(_ x: Tensor) -> Tensor {
        let (d, h, w) = (x.shape[2], x.shape[3], x.shape[4])
        let (pd, ph, pw) = (d + before[0] + after[0], h + before[1] + after[1], w + before[2] + after[2])
        let out = Tensor(zeros: [x.shape[0], x.shape[1], pd, ph, pw])
        for plane in 0..<(x.shape[0] * x.shape[1]) {
            for z in 0..<d {
                for y in 0..<h {
                    (out.data + ((plane * pd + z + before[0]) * ph + y + before[1]) * pw + before[2])
                        .update(from: x.data + ((plane * d + z) * h + y) * w, count: w)
                }
            }
        }
        return out
    }

    /// The inverse of `pad`: [N, C, D + pad, …] -> [N, C, D, H, W].
    public func crop(_ x: Tensor) -> Tensor {
        let (pd, ph, pw) = (x.shape[2], x.shape[3], x.shape[4])
        let (d, h, w) = (pd - before[0] - after[0], ph - before[1] - after[1], pw - before[2] - after[2])
        precondition(d > 0 && h > 0 && w > 0, "crop \(self) from \(x.shape)")
        let out = Tensor(zeros: [x.shape[0], x.shape[1], d, h, w])
        for plane in 0..<(x.shape[0] * x.shape[1]) {
            for z in 0..<d {
                for y in 0..<h {
                    (out.data + ((plane * d + z) * h + y) * w)
                        .update(
                            from: x.data + ((plane * pd + z + before[0]) * ph + y + before[1]) * pw + before[2],
                            count: w)
                }
            }
        }
        return out
    }
}
