import Foundation
import ModelPackage
import Volume

/// nnU-Net v1's preprocessing and export, as the official nnMamba segmentation checkpoints were
/// trained and evaluated (docs/official-input-layouts.md §2), on arrays in the stored (k, j, i)
/// order: what `GenericPreprocessor.resample_and_normalize` and
/// `save_segmentation_nifti_from_softmax` do after `ImageCropper.crop`. Index to index: nnU-Net
/// never looks at the patient space, only at the spacing. `Tools/reference/official_pipeline.py`
/// runs the original steps; `InputLayoutTests` compares the two.
///
/// Axes here are the volume's (x, y, z) = (i, j, k) unless a name says kji.
struct NNUNetV1Recipe: Sendable {
    /// The largest spacing over the smallest above which the low-resolution axis is resampled
    /// on its own (nnU-Net v1 `RESAMPLING_SEPARATE_Z_ANISO_THRESHOLD`).
    static let anisotropyThreshold = 3.0

    /// Spacing of the cropped volume and the target, (x, y, z).
    let spacing: SIMD3<Double>
    let target: SIMD3<Double>
    /// Tensor axis a holds (k, j, i) axis `permutation[a]` (`transpose_forward`).
    let permutation: [Int]

    /// nnU-Net v1 `resample_patient`: round(spacing / target · size), NumPy's half to even; at
    /// least one voxel (a field of view under half the target spacing would round to none, where
    /// upstream fails).
    func resampledSize(of size: SIMD3<Int>) -> SIMD3<Int> {
        var out = size
        for a in 0..<3 {
            out[a] = max(1, Int(((spacing[a] / target[a]) * Double(size[a])).rounded(.toNearestOrEven)))
        }
        return out
    }

    /// nnU-Net v1 `get_do_separate_z` and `get_lowres_axis` on the first spacing, then the
    /// second: the (x, y, z) axis resampled on its own, or nil (isotropic enough, or two axes
    /// tied for the largest spacing). Both tests only compare values, so the axis order does not
    /// change the answer.
    static func separateAxis(first: SIMD3<Double>, second: SIMD3<Double>) -> Int? {
        for s in [first, second] where s.max() / s.min() > anisotropyThreshold {
            let largest = (0..<3).filter { s.max() / s[$0] == 1 }
            return largest.count == 1 ? largest[0] : nil
        }
        return nil
    }

    /// The axis the preprocessing resamples on its own (original spacing, then the target).
    var inputSeparateAxis: Int? { Self.separateAxis(first: spacing, second: target) }

    /// The axis `save_segmentation_nifti_from_softmax` resamples on its own. It tests the
    /// original spacing in (k, j, i) order and then the target in the transposed order, and
    /// applies the index to maps already transposed back; the official export does exactly this,
    /// so the node does too (it differs from `inputSeparateAxis` only with a transpose).
    var outputSeparateAxis: Int? {
        let targetKJI = [target.z, target.y, target.x]
        let transposed = permutation.map { targetKJI[$0] }
        // Both in (k, j, i) positions, as upstream passes them; the answer is a (k, j, i) index.
        let first = SIMD3(spacing.z, spacing.y, spacing.x)
        let second = SIMD3(transposed[0], transposed[1], transposed[2])
        guard let kji = Self.separateAxis(first: first, second: second) else { return nil }
        return 2 - kji
    }

    /// One image channel onto `size` (nnU-Net v1 `resample_data_or_seg`, order 3, order 0 along a
    /// separate axis): scikit-image resize with edges repeated, clipped to the input's range (per
    /// slice when the slices are resized in 2-D).
    static func resampleImage(
        _ voxels: [Float], from size: SIMD3<Int>, to target: SIMD3<Int>, separateAxis: Int?, threads: Int? = nil
    ) -> [Float] {
        guard size != target else { return voxels }
        guard let axis = separateAxis else {
            var out = GridResize.resize(
                voxels, size: size, to: target, orders: [.cubic, .cubic, .cubic], boundary: .edge, threads: threads)
            GridResize.clip(&out, toRangeOf: voxels)
            return out
        }
        var planeTarget = target
        planeTarget[axis] = size[axis]
        var orders: [GridResize.Order?] = [.cubic, .cubic, .cubic]
        orders[axis] = nil
        var planes = GridResize.resize(
            voxels, size: size, to: planeTarget, orders: orders, boundary: .edge, threads: threads)
        clipSlices(&planes, size: planeTarget, toRangesOf: voxels, sourceSize: size, axis: axis)
        return alongSeparateAxis(planes, size: planeTarget, to: target, axis: axis, threads: threads)
    }

    /// The non-zero mask onto `size` as batchgenerators' `resize_segmentation` resamples the crop's
    /// segmentation (−1 outside, 0 inside, order 1): inside where the linearly resized indicator
    /// is at least 0.5; along a separate axis the thresholded slices by nearest.
    static func resampleMask(
        _ mask: [Bool], from size: SIMD3<Int>, to target: SIMD3<Int>, separateAxis: Int?, threads: Int? = nil
    ) -> [Bool] {
        guard size != target else { return mask }
        let indicator = mask.map { $0 ? Float(1) : 0 }
        var planeTarget = target
        var orders: [GridResize.Order?] = [.linear, .linear, .linear]
        if let axis = separateAxis {
            planeTarget[axis] = size[axis]
            orders[axis] = nil
        }
        let weights = GridResize.resize(
            indicator, size: size, to: planeTarget, orders: orders, boundary: .edge, threads: threads)
        let thresholded = weights.map { $0 >= 0.5 ? Float(1) : 0 }
        guard let axis = separateAxis else { return thresholded.map { $0 != 0 } }
        return alongSeparateAxis(thresholded, size: planeTarget, to: target, axis: axis, threads: threads)
            .map { $0 != 0 }
    }

    /// One class map onto `size` on the way back (`resample_data_or_seg`, order 1, order 0 along
    /// a separate axis; a linear resize never leaves the input's range, so no clip is needed).
    static func resampleClassMap(
        _ values: [Float], from size: SIMD3<Int>, to target: SIMD3<Int>, separateAxis: Int?, threads: Int? = nil
    ) -> [Float] {
        guard size != target else { return values }
        var planeTarget = target
        var orders: [GridResize.Order?] = [.linear, .linear, .linear]
        if let axis = separateAxis {
            planeTarget[axis] = size[axis]
            orders[axis] = nil
        }
        let planes = GridResize.resize(
            values, size: size, to: planeTarget, orders: orders, boundary: .edge, threads: threads)
        guard let axis = separateAxis else { return planes }
        return alongSeparateAxis(planes, size: planeTarget, to: target, axis: axis, threads: threads)
    }

    /// `map_coordinates(order=0, mode="nearest")` along the separate axis, the other axes
    /// already at their size (their coordinates are whole indices).
    static func alongSeparateAxis(
        _ values: [Float], size: SIMD3<Int>, to target: SIMD3<Int>, axis: Int, threads: Int?
    ) -> [Float] {
        guard size[axis] != target[axis] else { return values }
        var orders: [GridResize.Order?] = [nil, nil, nil]
        orders[axis] = .nearest
        return GridResize.resize(values, size: size, to: target, orders: orders, boundary: .edge, threads: threads)
    }

    /// Clips every slice across `axis` of the 2-D resized volume to the range of the same slice
    /// of the source (scikit-image clips each 2-D resize to its own input).
    static func clipSlices(
        _ values: inout [Float], size: SIMD3<Int>, toRangesOf source: [Float], sourceSize: SIMD3<Int>, axis: Int
    ) {
        func offset(_ p: SIMD3<Int>, _ s: SIMD3<Int>) -> Int { (p.z * s.y + p.y) * s.x + p.x }
        let others = (0..<3).filter { $0 != axis }
        for slice in 0..<size[axis] {
            var low = Float.infinity, high = -Float.infinity
            for b in 0..<sourceSize[others[1]] {
                for a in 0..<sourceSize[others[0]] {
                    var p = SIMD3<Int>.zero
                    (p[axis], p[others[0]], p[others[1]]) = (slice, a, b)
                    let v = source[offset(p, sourceSize)]
                    low = min(low, v)
                    high = max(high, v)
                }
            }
            for b in 0..<size[others[1]] {
                for a in 0..<size[others[0]] {
                    var p = SIMD3<Int>.zero
                    (p[axis], p[others[0]], p[others[1]]) = (slice, a, b)
                    let i = offset(p, size)
                    values[i] = min(max(values[i], low), high)
                }
            }
        }
    }

    /// nnU-Net v1 `create_nonzero_mask`: non-zero in any channel, with the holes filled
    /// (SciPy's `binary_fill_holes`: every zero voxel not connected to the border through zero
    /// voxels, faces only, becomes part of the mask).
    static func filledMask(_ nonZero: [Bool], size: SIMD3<Int>) -> [Bool] {
        var outside = [Bool](repeating: false, count: nonZero.count)
        var stack: [Int] = []
        func offset(_ i: Int, _ j: Int, _ k: Int) -> Int { (k * size.y + j) * size.x + i }
        func visit(_ o: Int) {
            if !nonZero[o] && !outside[o] {
                outside[o] = true
                stack.append(o)
            }
        }
        for k in 0..<size.z {
            for j in 0..<size.y {
                for i in 0..<size.x
                where i == 0 || j == 0 || k == 0 || i == size.x - 1 || j == size.y - 1 || k == size.z - 1 {
                    visit(offset(i, j, k))
                }
            }
        }
        let (sx, sy) = (size.x, size.x * size.y)
        while let o = stack.popLast() {
            let i = o % size.x, j = (o / sx) % size.y, k = o / sy
            if i > 0 { visit(o - 1) }
            if i < size.x - 1 { visit(o + 1) }
            if j > 0 { visit(o - sx) }
            if j < size.y - 1 { visit(o + sx) }
            if k > 0 { visit(o - sy) }
            if k < size.z - 1 { visit(o + sy) }
        }
        return outside.map { !$0 }
    }

    /// `GenericPreprocessor.resample_and_normalize`'s intensity step for one channel, in Float as
    /// upstream (NumPy 1.x kept float32 arrays float32 against float64 statistics):
    /// - CT: clip to the dataset's percentiles, (x − mean) / sd; with the mask, 0 outside it;
    /// - z-score: mean and standard deviation over the mask (then 0 outside) or the whole image,
    ///   divisor sd + 1e-8;
    /// - none: unchanged.
    static func normalise(
        _ values: inout [Float], _ n: ModelManifest.Normalization, mask: [Bool]?, field: String
    ) throws(InferenceError) {
        let masked = n.nonzeroMask == true ? mask : nil
        switch n.kind {
        case .none:
            return
        case .ct:
            guard let clip = n.clip, clip.count == 2, let mean = n.mean, let std = n.std else {
                throw InferenceError(.normalization, field: field, "CT normalisation needs clip, mean and std")
            }
            let (low, high, m, s) = (Float(clip[0]), Float(clip[1]), Float(mean), Float(std))
            for i in values.indices { values[i] = (min(max(values[i], low), high) - m) / s }
            if let masked { for i in values.indices where !masked[i] { values[i] = 0 } }
        case .zscore:
            var count = 0, sum = 0.0
            for i in values.indices where masked?[i] ?? true {
                sum += Double(values[i])
                count += 1
            }
            guard count > 0 else { return }
            let mean = sum / Double(count)
            var squares = 0.0
            for i in values.indices where masked?[i] ?? true {
                let d = Double(values[i]) - mean
                squares += d * d
            }
            let divisor = Float((squares / Double(count)).squareRoot() + 1e-8), m = Float(mean)
            for i in values.indices {
                values[i] = masked?[i] ?? true ? (values[i] - m) / divisor : 0
            }
        case .lfcWindow:
            throw InferenceError(.normalization, field: field, "lfc_window belongs to the lfc recipe")
        }
    }
}
