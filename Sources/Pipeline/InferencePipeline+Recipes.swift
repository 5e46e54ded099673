import Foundation
import ModelPackage
import NNMamba
import Volume

/// The official programs' recipes (`preprocessing.recipe` in model.json;
/// docs/official-input-layouts.md): the tensor their checkpoints were trained on, built from the
/// assembled series on the grid dcm2niix would have stored, and their outputs read back the way
/// those programs read them.
extension InferencePipeline {
    /// The volumes on the stored grid (`input_layout.orientation`), checked.
    func storedVolumes(_ inputs: [Volume], clock: inout StepClock) throws(InferenceError) -> (Geometry, [Volume]) {
        let source = try checked(inputs)
        let stored = Self.networkGrid(
            of: source, orientation: manifest.layout.orientation, mr3DAcquisition: inputs[0].isMR3DAcquisition)
        let volumes = clock.measure(.reorientation) {
            stored == source ? inputs : inputs.map { $0.reoriented(to: stored) }
        }
        return (source, volumes)
    }

    /// nnU-Net v1 (`NNUNetV1Recipe`): crop to the non-zero box, resample to the target spacing,
    /// normalise over the hole-filled mask where asked. The transpose comes with the padding
    /// (`prepare`), as for every array order.
    func normaliseNNUNetV1(_ inputs: [Volume]) throws(InferenceError) -> NormalisedInput {
        var clock = StepClock()
        let (source, stored) = try storedVolumes(inputs, clock: &clock)
        var volumes = stored
        let canonical = volumes[0].geometry
        let nonZero = Self.nonZeroMask(volumes)
        guard nonZero.contains(true) else {
            // nnU-Net's crop has no bounding box either; say so instead of failing later.
            throw InferenceError(.input, field: "inputs", "the image is zero everywhere: nothing to segment")
        }
        let crop = clock.measure(.crop) { Self.nonZeroBox(volumes) }
        var mask = nonZero
        if let crop {
            volumes = volumes.map { $0.cropped(lower: crop.lower, upper: crop.upper) }
            mask = Volume(geometry: canonical, voxels: mask.map { $0 ? 1 : 0 })
                .cropped(lower: crop.lower, upper: crop.upper).voxels.map { $0 != 0 }
        }
        let cropped = volumes[0].geometry
        let usesMask = manifest.inputs.contains { $0.normalization.nonzeroMask == true }
        let recipe = nnunetRecipe(cropped)
        let size = recipe.resampledSize(of: cropped.size)
        let resampled = PreprocessingRecord.resampledGrid(cropped, size: size)
        let axis = recipe.inputSeparateAxis
        var filled: [Bool]? = nil
        clock.measure(.resampling) {
            if usesMask {
                filled = NNUNetV1Recipe.resampleMask(
                    NNUNetV1Recipe.filledMask(mask, size: cropped.size), from: cropped.size, to: size,
                    separateAxis: axis)
            }
            volumes = volumes.map {
                Volume(
                    geometry: resampled,
                    voxels: NNUNetV1Recipe.resampleImage($0.voxels, from: cropped.size, to: size, separateAxis: axis))
            }
        }
        let tensor = try clock.measure(.normalization) { () throws(InferenceError) -> Tensor in
            let out = Tensor(zeros: [1, volumes.count, size.z, size.y, size.x])
            for (c, volume) in volumes.enumerated() {
                var values = volume.voxels
                try NNUNetV1Recipe.normalise(
                    &values, manifest.inputs[c].normalization, mask: filled, field: "inputs[\(c)].normalization")
                out.channel(0, c).update(from: values, count: values.count)
            }
            return out
        }
        return NormalisedInput(
            tensor: tensor, source: source, canonical: canonical, crop: crop, cropped: cropped,
            resampled: resampled, timings: clock.timings)
    }

    /// The recipe's spacings for a cropped grid.
    func nnunetRecipe(_ cropped: Geometry) -> NNUNetV1Recipe {
        NNUNetV1Recipe(
            spacing: cropped.spacing,
            target: SIMD3(manifest.targetSpacing[0], manifest.targetSpacing[1], manifest.targetSpacing[2]),
            permutation: manifest.spatialPermutation)
    }

    /// LFC: the stored volume resized to the package's grid (linear, reflected edges, Gaussian
    /// anti-aliasing along axes that shrink: scikit-image `resize(order=1, preserve_range=True)`
    /// as LFC calls it), then each channel's normalisation (`lfc_window`: LFC's `window_image`).
    func normaliseLFC(_ inputs: [Volume]) throws(InferenceError) -> NormalisedInput {
        var clock = StepClock()
        let (source, stored) = try storedVolumes(inputs, clock: &clock)
        var volumes = stored
        let canonical = volumes[0].geometry
        let grid = manifest.preprocessing?.grid ?? []
        guard grid.count == 3 else {
            throw InferenceError(.input, field: "preprocessing.grid", "the lfc recipe needs the tensor size")
        }
        let size = SIMD3(grid[2], grid[1], grid[0])
        let resampled = PreprocessingRecord.resampledGrid(canonical, size: size)
        clock.measure(.resampling) {
            volumes = volumes.map {
                Volume(
                    geometry: resampled,
                    voxels: GridResize.resize(
                        $0.voxels, size: canonical.size, to: size, orders: [.linear, .linear, .linear],
                        boundary: .mirror, antiAliasing: true))
            }
        }
        let tensor = try clock.measure(.normalization) { () throws(InferenceError) -> Tensor in
            let out = Tensor(zeros: [1, volumes.count, size.z, size.y, size.x])
            for (c, volume) in volumes.enumerated() {
                var values = volume.voxels
                let n = manifest.inputs[c].normalization
                switch n.kind {
                case .lfcWindow: Self.lfcWindow(&values)
                case .none: break
                default:
                    throw InferenceError(
                        .normalization, field: "inputs[\(c)].normalization.kind",
                        "the lfc recipe normalises with lfc_window or none, not \(n.kind.rawValue)")
                }
                out.channel(0, c).update(from: values, count: values.count)
            }
            return out
        }
        return NormalisedInput(
            tensor: tensor, source: source, canonical: canonical, crop: nil, cropped: canonical,
            resampled: resampled, timings: clock.timings)
    }

    /// LFC's `window_image`: level and width from the voxels above 0 (mean, 4 · standard
    /// deviation), values clipped to level ± width / 2 and mapped onto [0, 255]; the bounds are
    /// computed in Double and applied in Float, as NumPy applies float64 scalars to a float32 array.
    static func lfcWindow(_ values: inout [Float]) {
        var count = 0, sum = 0.0
        for v in values where v > 0 {
            sum += Double(v)
            count += 1
        }
        guard count > 0 else { return }
        let mean = sum / Double(count)
        var squares = 0.0
        for v in values where v > 0 { squares += (Double(v) - mean) * (Double(v) - mean) }
        let width = 4 * (squares / Double(count)).squareRoot()
        guard width > 0 else { return }
        let low = Float(mean - width / 2), high = Float(mean + width / 2), w = Float(width)
        for i in values.indices { values[i] = (min(max(values[i], low), high) - low) / w * 255 }
    }

    /// The official classification code: the stored volume as it is, no crop, resampling or
    /// padding; each channel's normalisation (upstream: none).
    func normaliseAsStored(_ inputs: [Volume]) throws(InferenceError) -> NormalisedInput {
        var clock = StepClock()
        let (source, volumes) = try storedVolumes(inputs, clock: &clock)
        let canonical = volumes[0].geometry
        let tensor = try clock.measure(.normalization) { () throws(InferenceError) -> Tensor in
            try normalisedTensor(volumes, mask: nil)
        }
        return NormalisedInput(
            tensor: tensor, source: source, canonical: canonical, crop: nil, cropped: canonical,
            resampled: canonical, timings: clock.timings)
    }

    /// nnU-Net v1's export (`save_segmentation_nifti_from_softmax`): each class map back to the
    /// cropped size (linear, nearest along a separate axis), argmax (ties to the lowest class),
    /// pasted into a background volume at the crop box, then onto the source grid.
    ///
    /// probabilities: [1, K, D, H, W] on `record.resampled`, (k, j, i) order -> labels on `record.source`.
    func nnunetLabelMap(_ probabilities: Tensor, record: PreprocessingRecord, like input: InputIdentity) -> Volume {
        let from = record.resampled.size, to = record.cropped.size
        let axis = nnunetRecipe(record.cropped).outputSeparateAxis
        let voxels = from.x * from.y * from.z
        var best = [Float](repeating: -.infinity, count: to.x * to.y * to.z)
        var labels = [Float](repeating: 0, count: best.count)
        for c in 0..<probabilities.shape[1] {
            let map = Array(UnsafeBufferPointer(start: probabilities.data + c * voxels, count: voxels))
            let back = NNUNetV1Recipe.resampleClassMap(map, from: from, to: to, separateAxis: axis)
            for i in back.indices where back[i] > best[i] {
                best[i] = back[i]
                labels[i] = Float(c)
            }
        }
        var canonical = Volume(geometry: record.canonical)
        let lower = record.crop?.lower ?? .zero
        for k in 0..<to.z {
            for j in 0..<to.y {
                for i in 0..<to.x {
                    canonical[lower.x + i, lower.y + j, lower.z + k] = labels[(k * to.y + j) * to.x + i]
                }
            }
        }
        let onSource =
            record.canonical == record.source
            ? canonical.voxels : canonical.resampled(to: record.source, interpolation: .nearest).voxels
        return Volume(
            geometry: record.source, voxels: onSource, sources: input.sources,
            seriesInstanceUID: input.seriesInstanceUID, frameOfReferenceUID: input.frameOfReferenceUID)
    }

    /// LFC's reading of a heat-map peak (a0, a1, a2), tensor order: as the stored volume's voxel
    /// (i, j, k) = (a0 · nk / g, a1 · nj / g, a2 · ni / g), the exact inverse of how LFC made its
    /// training targets (its scale factors are swapped between the first and last axis, which
    /// only matters for volumes with ni ≠ nk; see Tools/reference/README.md).
    static func lfcVoxel(peak: [Double], stored: SIMD3<Int>, grid: Int) -> SIMD3<Double> {
        let g = Double(grid)
        return SIMD3(peak[0] * Double(stored.z) / g, peak[1] * Double(stored.y) / g, peak[2] * Double(stored.x) / g)
    }
}
