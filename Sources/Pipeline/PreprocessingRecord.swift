import NNMamba
import Volume

/// Every geometric step between the source volumes and the network's input tensor, recorded so
/// each can be undone exactly (docs/inference.md). Each stage is a `Geometry` in patient space (LPS), so
/// undoing is a mapping through continuous index ↔ patient transforms, never an index guess.
///
/// Order: source → `canonical` (axes permuted/flipped, no voxel moved: the grid the package's
/// `input_layout` names) → `cropped` (a sub-grid of `canonical`) → `resampled` (target spacing) → `padded` (the tensor the network sees).
public struct PreprocessingRecord: Sendable, Equatable {
    /// The grid the inputs came on, and the one results are returned on.
    public var source: Geometry
    /// The grid the tensor's axes follow: `source.canonical` (i, j, k along +x, +y, +z of LPS as
    /// far as possible), or `source.rowsReversed` for a package trained on dcm2niix's voxel order.
    public var canonical: Geometry
    /// The non-zero bounding box on the canonical grid (lower inclusive, upper exclusive, per
    /// i, j, k), or nil when nothing was cropped.
    public var crop: (lower: SIMD3<Int>, upper: SIMD3<Int>)?
    /// The canonical grid restricted to `crop` (equal to `canonical` without a crop).
    public var cropped: Geometry
    /// The grid at (close to) the target spacing, covering the same field of view as `cropped`
    /// edge to edge: per axis n' = round(n·s/t) voxels of spacing n·s/n' (nnU-Net's new shape).
    public var resampled: Geometry
    /// Zero padding of the resampled tensor (axes D, H, W = k, j, i).
    public var padding: Padding
    /// The network's grid: `resampled` extended by `padding`. Tensor voxel (d, h, w) is index
    /// (w, h, d) of this geometry.
    public var padded: Geometry

    public static func == (a: Self, b: Self) -> Bool {
        a.source == b.source && a.canonical == b.canonical && a.crop?.lower == b.crop?.lower
            && a.crop?.upper == b.crop?.upper && a.cropped == b.cropped && a.resampled == b.resampled
            && a.padding == b.padding && a.padded == b.padded
    }

    /// Patient position (LPS, mm) of a (continuous) voxel of the network tensor, given as (d, h, w).
    public func patientPoint(ofTensorVoxel dhw: SIMD3<Double>) -> SIMD3<Double> {
        padded.patientPoint(ofIndex: SIMD3(dhw.z, dhw.y, dhw.x))
    }

    /// The grid at `spacing` covering the field of view of `grid` edge to edge (voxel edges, not
    /// centres, coincide), so every voxel of either grid lies inside the other's field of view.
    static func resampledGrid(_ grid: Geometry, spacing target: SIMD3<Double>) -> Geometry {
        var size = grid.size
        for axis in 0..<3 {
            let extent = Double(grid.size[axis]) * grid.spacing[axis]
            size[axis] = max(1, Int((extent / target[axis]).rounded()))
        }
        return resampledGrid(grid, size: size)
    }

    /// The grid of `size` voxels covering `grid`'s field of view edge to edge (what scikit-image's
    /// `resize` samples: output voxel o at input coordinate (o + 0.5) · n / m − 0.5).
    static func resampledGrid(_ grid: Geometry, size: SIMD3<Int>) -> Geometry {
        var spacing = grid.spacing, shift = SIMD3<Double>.zero
        for axis in 0..<3 {
            let extent = Double(grid.size[axis]) * grid.spacing[axis]
            spacing[axis] = extent / Double(size[axis])
            // Keep the first voxel edge: the centre moves by half the change in spacing.
            shift[axis] = (spacing[axis] - grid.spacing[axis]) / 2
        }
        return Geometry(
            size: size, spacing: spacing, origin: grid.origin + grid.direction * shift,
            direction: grid.direction)
    }

    /// `grid` grown by `padding` (given in tensor order D, H, W) on each side.
    static func paddedGrid(_ grid: Geometry, _ padding: Padding) -> Geometry {
        let before = SIMD3(Double(padding.before[2]), Double(padding.before[1]), Double(padding.before[0]))
        let grow = SIMD3(
            padding.before[2] + padding.after[2], padding.before[1] + padding.after[1],
            padding.before[0] + padding.after[0])
        return Geometry(
            size: grid.size &+ grow, spacing: grid.spacing,
            origin: grid.patientPoint(ofIndex: -before), direction: grid.direction)
    }
}
