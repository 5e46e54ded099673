import ModelPackage
import NNMamba
import Volume

extension InferencePipeline {
    /// Largest difference in spacing, origin (mm) or direction cosine for two inputs to count
    /// as the same grid.
    static let gridTolerance = 1e-4

    /// The pre-processing half of the recipe (docs/inference.md): volumes -> [1, C, D, H, W] on the
    /// network's grid, with every step recorded. With a volume already canonical, at the target
    /// spacing and padded size, the tensor is exactly the normalised voxels.
    ///
    /// With `sharing`, the normalised tensor (before the padding, which depends on the network)
    /// is taken from or left in `sharing` under `inputKey` (what identifies the volumes) and this
    /// pipeline's `preprocessingKey`, for `expectedUses` pipelines in all.
    public func prepare(
        _ inputs: [Volume], sharing: SharedInputs? = nil, inputKey: String = "", expectedUses: Int = 1
    ) throws(InferenceError) -> PreparedInput {
        let normalised: NormalisedInput
        if let sharing, !inputKey.isEmpty {
            do {
                var madeHere = false
                var shared = try sharing.value(for: inputKey + "|" + preprocessingKey, expectedUses: expectedUses) {
                    madeHere = true
                    return try normalise(inputs)
                }
                // A tensor made for another job took no time of this one.
                if !madeHere { shared.timings = [] }
                normalised = shared
            } catch let error as InferenceError {
                throw error
            } catch {
                throw InferenceError(.normalization, "shared preprocessing failed: \(error)")
            }
        } else {
            normalised = try normalise(inputs)
        }
        var clock = StepClock(timings: normalised.timings)
        // The padding is worked out on the (k, j, i) tensor; a package trained on another array
        // order ((i, j, k), or nnU-Net's transposed axes) gets the padded tensor with its spatial
        // axes permuted, and its patch is given in that order.
        let permutation = manifest.spatialPermutation
        let inverse = inversePermutation(permutation)
        let patch = inverse.map { manifest.patchSize[$0] }
        let padding = networkPadding(Array(normalised.tensor.shape[2...]), patch: patch)
        let unpadded = padding.before == [0, 0, 0] && padding.after == [0, 0, 0]
        var tensor = clock.measure(.padding) { unpadded ? normalised.tensor : padding.pad(normalised.tensor) }
        if permutation != [0, 1, 2] {
            tensor = clock.measure(.reorientation) { permutingSpatialAxes(tensor, permutation) }
        }
        let record = PreprocessingRecord(
            source: normalised.source, canonical: normalised.canonical, crop: normalised.crop,
            cropped: normalised.cropped, resampled: normalised.resampled,
            padding: padding, padded: PreprocessingRecord.paddedGrid(normalised.resampled, padding))
        return PreparedInput(tensor: tensor, record: record, timings: clock.timings)
    }

    /// The normalised network input before padding, and the grids it went through.
    struct NormalisedInput: Sendable {
        /// [1, C, D, H, W] on `resampled`; never written after it is made (jobs share it).
        var tensor: Tensor
        var source: Geometry
        var canonical: Geometry
        var crop: (lower: SIMD3<Int>, upper: SIMD3<Int>)?
        var cropped: Geometry
        var resampled: Geometry
        var timings: [StepTiming]
    }

    /// What decides the normalised tensor besides the volumes: two pipelines with equal keys
    /// make equal tensors from equal volumes (reorientation is fixed; crop, spacing,
    /// interpolation and each channel's normalisation are not).
    public var preprocessingKey: String {
        let channels = manifest.inputs.map { "\($0.normalization)" }.joined(separator: ";")
        return "recipe \(manifest.recipe.rawValue) \(manifest.preprocessing?.grid ?? []) "
            + "layout \(manifest.layout.orientation.rawValue) \(manifest.layout.array.rawValue) "
            + "crop \(options.cropToNonZero) spacing \(manifest.targetSpacing) "
            + "interpolation \(options.imageInterpolation) pointwise \(options.pointwiseResampling) "
            + "channels \(channels)"
    }

    /// Reorientation, crop, resampling and normalisation of the volumes.
    func normalise(_ inputs: [Volume]) throws(InferenceError) -> NormalisedInput {
        switch manifest.recipe {
        case .nnunetV1: return try normaliseNNUNetV1(inputs)
        case .lfc: return try normaliseLFC(inputs)
        case .none: return try normaliseAsStored(inputs)
        case .mambanode: break
        }
        var clock = StepClock()
        let source = try checked(inputs)
        let canonical = Self.networkGrid(
            of: source, orientation: manifest.layout.orientation, mr3DAcquisition: inputs[0].isMR3DAcquisition)
        var volumes = clock.measure(.reorientation) {
            canonical == source ? inputs : inputs.map { $0.reoriented(to: canonical) }
        }
        let crop = clock.measure(.crop) { options.cropToNonZero ? Self.nonZeroBox(volumes) : nil }
        if let crop { volumes = volumes.map { $0.cropped(lower: crop.lower, upper: crop.upper) } }
        let cropped = volumes[0].geometry
        var mask: [Bool]? = nil
        let resampled = clock.measure(.resampling) { resample(&volumes, mask: &mask) }
        let tensor = try clock.measure(.normalization) { () throws(InferenceError) -> Tensor in
            try normalisedTensor(volumes, mask: mask)
        }
        return NormalisedInput(
            tensor: tensor, source: source, canonical: canonical, crop: crop, cropped: cropped,
            resampled: resampled, timings: clock.timings)
    }

    /// Resamples the (canonical, cropped) volumes to the manifest's target spacing and returns
    /// their new grid; with a z-score over non-zero voxels, also the mask on that grid.
    func resample(_ volumes: inout [Volume], mask: inout [Bool]?) -> Geometry {
        let cropped = volumes[0].geometry
        let usesMask = manifest.inputs.contains {
            $0.normalization.kind == .zscore && $0.normalization.nonzeroMask == true
        }
        let target = SIMD3(manifest.targetSpacing[0], manifest.targetSpacing[1], manifest.targetSpacing[2])
        let grid = PreprocessingRecord.resampledGrid(cropped, spacing: target)
        if grid.size == cropped.size
            && max(largest(grid.spacing - cropped.spacing), largest(grid.origin - cropped.origin)) < 1e-9
        {
            // Already at the target spacing: interpolating would only add round-off.
            if usesMask { mask = Self.nonZeroMask(volumes) }
            return cropped
        }
        if usesMask {
            // nnU-Net takes the mask on the original grid and resamples it with nearest, so spline
            // ringing cannot leak into the background.
            let m = Volume(geometry: cropped, voxels: Self.nonZeroMask(volumes).map { $0 ? 1 : 0 })
            mask = resample(m, to: grid, interpolation: .nearest).voxels.map { $0 != 0 }
        }
        volumes = volumes.map { resample($0, to: grid, interpolation: options.imageInterpolation) }
        return grid
    }

    /// One volume onto the resampled grid, its border extended by half a voxel (the grid shares
    /// its field of view edge to edge): along the axes, or point by point for the reference.
    func resample(_ volume: Volume, to grid: Geometry, interpolation: Interpolation) -> Volume {
        options.pointwiseResampling
            ? volume.resampledPointwise(to: grid, interpolation: interpolation, extendingEdges: true)
            : volume.resampled(to: grid, interpolation: interpolation, extendingEdges: true)
    }

    /// nnMambaSeg needs each axis a multiple of 16 (four stride-2 stages) and at least the patch
    /// (given in the same axis order as `spatial`). The encoder takes any size and its global
    /// average pools would see padded zeros, so it gets the whole volume unpadded, as upstream
    /// (docs/nnmamba-architecture.md §4, §6).
    func networkPadding(_ spatial: [Int], patch: [Int]) -> Padding {
        guard manifest.network.architecture == .nnMambaSeg else { return Padding(from: spatial, to: spatial) }
        return Padding(from: spatial, to: zip(spatial, patch).map { max(($0 + 15) / 16 * 16, $1) })
    }

    /// The grid whose axes the tensor follows: the series' canonical LPS grid, or the voxel order
    /// dcm2niix writes (rows reversed, and MR 3-D acquisitions reoriented;
    /// docs/official-input-layouts.md §1).
    static func networkGrid(
        of source: Geometry, orientation: ModelManifest.InputLayout.Orientation, mr3DAcquisition: Bool = false
    ) -> Geometry {
        switch orientation {
        case .lps: source.canonical
        case .asStoredByDcm2niix: source.storedByDcm2niix(mr3DAcquisition: mr3DAcquisition)
        }
    }

    /// One volume per manifest input, all on one non-degenerate grid; returns that grid.
    func checked(_ inputs: [Volume]) throws(InferenceError) -> Geometry {
        guard inputs.count == manifest.inputs.count else {
            throw InferenceError(
                .input, field: "inputs",
                "\(inputs.count) volumes for a model with \(manifest.inputs.count) inputs")
        }
        let grid = inputs[0].geometry
        guard grid.size.x > 0, grid.size.y > 0, grid.size.z > 0, grid.indexToPatientMatrix.inverse != nil else {
            throw InferenceError(.input, field: "inputs[0]", "degenerate grid \(grid.size) spacing \(grid.spacing)")
        }
        for (i, volume) in inputs.enumerated().dropFirst() {
            let g = volume.geometry
            let t = Self.gridTolerance
            let sameDirection = (0..<3).allSatisfy { largest(g.direction[column: $0] - grid.direction[column: $0]) < t }
            guard g.size == grid.size, largest(g.spacing - grid.spacing) < t, largest(g.origin - grid.origin) < t,
                sameDirection
            else {
                throw InferenceError(
                    .input, field: "inputs[\(i)]",
                    "'\(manifest.inputs[i].name)' is not on the grid of '\(manifest.inputs[0].name)' "
                        + "(size \(g.size) vs \(grid.size), spacing \(g.spacing) vs \(grid.spacing))")
            }
        }
        return grid
    }

    /// Stacks the volumes as channels and normalises each per its manifest input. Volume offset
    /// (k·ny + j)·nx + i is tensor (D, H, W) = (k, j, i), so a channel is a straight copy.
    ///
    /// volumes: C volumes of nx × ny × nz -> [1, C, nz, ny, nx].
    func normalisedTensor(_ volumes: [Volume], mask: [Bool]?) throws(InferenceError) -> Tensor {
        let size = volumes[0].geometry.size
        let spatial = [size.z, size.y, size.x]
        let out = Tensor(zeros: [1, volumes.count] + spatial)
        for (c, volume) in volumes.enumerated() {
            let channel = Tensor(shape: [1, 1] + spatial, values: volume.voxels)
            let normalise = try Self.normalisation(
                manifest.inputs[c].normalization, field: "inputs[\(c)].normalization")
            let normalised = normalise?(channel, mask) ?? channel
            out.channel(0, c).update(from: normalised.data, count: normalised.count)
        }
        return out
    }

    /// The engine's normalisation for one manifest input (nil for `none`), as a function of the
    /// channel [1, 1, D, H, W] and the non-zero mask.
    static func normalisation(
        _ n: ModelManifest.Normalization, field: String
    )
        throws(InferenceError) -> ((Tensor, [Bool]?) -> Tensor)?
    {
        switch n.kind {
        case .none:
            return nil
        case .ct:
            guard let clip = n.clip, clip.count == 2, let mean = n.mean, let std = n.std else {
                throw InferenceError(.normalization, field: field, "CT normalisation needs clip, mean and std")
            }
            let op = IntensityNormalization.ct(
                lower: Float(clip[0]), upper: Float(clip[1]),
                mean: Float(mean), std: Float(std))
            return { x, _ in op.apply(x) }
        case .zscore where n.nonzeroMask == true:
            // The engine takes the mask as "non-zero in any channel": a second channel holding the
            // mask makes that exactly the mask, whatever zeros the image has inside it.
            return { x, mask in
                guard let mask else { return IntensityNormalization.zScore(nonZeroMask: true).apply(x) }
                let pair = Tensor(zeros: [1, 2] + Array(x.shape[2...]))
                for i in 0..<x.count where mask[i] {
                    pair[i] = x[i]
                    pair[x.count + i] = 1
                }
                let y = IntensityNormalization.zScore(nonZeroMask: true).apply(pair)
                return Tensor(shape: x.shape, values: Array(UnsafeBufferPointer(start: y.data, count: x.count)))
            }
        case .zscore:
            return { x, _ in IntensityNormalization.zScore(nonZeroMask: false).apply(x) }
        case .lfcWindow:
            return { x, _ in
                var values = Array(UnsafeBufferPointer(start: x.data, count: x.count))
                lfcWindow(&values)
                return Tensor(shape: x.shape, values: values)
            }
        }
    }

    /// Voxels non-zero in any channel.
    static func nonZeroMask(_ volumes: [Volume]) -> [Bool] {
        var mask = [Bool](repeating: false, count: volumes[0].voxels.count)
        for volume in volumes {
            for (i, v) in volume.voxels.enumerated() where v != 0 { mask[i] = true }
        }
        return mask
    }

    /// The bounding box (lower inclusive, upper exclusive, per i, j, k) of the voxels non-zero in
    /// any channel; nil when that is the whole grid or nothing is non-zero (nothing to crop).
    static func nonZeroBox(_ volumes: [Volume]) -> (lower: SIMD3<Int>, upper: SIMD3<Int>)? {
        let g = volumes[0].geometry
        let mask = nonZeroMask(volumes)
        var lower = g.size, upper = SIMD3<Int>.zero
        for k in 0..<g.size.z {
            for j in 0..<g.size.y {
                for i in 0..<g.size.x where mask[g.offset(i, j, k)] {
                    let p = SIMD3(i, j, k)
                    lower = pointwiseMin(lower, p)
                    upper = pointwiseMax(upper, p &+ 1)
                }
            }
        }
        guard upper.x > 0, lower != .zero || upper != g.size else { return nil }
        return (lower, upper)
    }
}
