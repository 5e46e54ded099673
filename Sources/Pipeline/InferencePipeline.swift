import Foundation
import ModelPackage
import NNMamba
import Volume

/// Runs a model package on volumes with nnU-Net's recipe (docs/inference.md; upstream details
/// in docs/nnmamba-architecture.md §6): the adapter between `Volume` (voxels on a patient-space grid) and
/// the engine's `Tensor` (NCDHW).
///
/// Steps, each timed and each recorded in a `PreprocessingRecord` so it can be undone exactly:
/// reorient to the canonical axis order → (crop to the non-zero box) → resample to the target
/// spacing → normalise per channel → pad to a multiple of 16 and at least the patch → network
/// (sliding window for dense outputs, whole volume for the encoder) → back to the source grid.
///
/// ```swift
/// let pipeline = try InferencePipeline(package: ModelPackage(directory: "models/ct-organs"))
/// let result = try pipeline.run([ct])
/// if case .segmentation(let labels) = result.output { try NIfTI.write(labels, to: "labels.nii.gz") }
/// ```
///
/// The weights are loaded once, in `init`; `run` may be called many times, from one thread at a
/// time per engine call (docs/style-guide.md §6: the engine runs on a dedicated thread).
public struct InferencePipeline: Sendable {
    /// Choices of the recipe that the manifest does not fix.
    public struct Options: Sendable, Equatable {
        /// Crop to the bounding box of voxels non-zero in any channel before resampling
        /// (nnU-Net's first step; useful for skull-stripped MR, a no-op for most CT).
        public var cropToNonZero = false
        /// Interpolation of the images onto the target spacing (nnU-Net: third-order spline).
        public var imageInterpolation: Interpolation = .bspline3
        /// Sliding-window step as a fraction of the patch.
        public var stepFraction = 0.5
        /// How each landmark moves from its peak voxel to a sub-voxel position; the package's
        /// `landmark_refinement` takes precedence when it names one.
        public var landmarkRefinement: LandmarkRefinement = .peak
        /// Resample every voxel on its own (`Volume.resampledPointwise`,
        /// `ClassProbabilities.pointwiseLabels`) instead of one axis at a time: the plain
        /// statement of the recipe, kept as the reference the fast path is tested against.
        var pointwiseResampling = false

        public init() {}
    }

    public let manifest: ModelManifest
    public let network: any InferenceNetwork
    public let options: Options

    /// Loads and checks the package's network (weights against the declared architecture).
    public init(package: ModelPackage, options: Options = Options()) throws(InferenceError) {
        self.init(manifest: package.manifest, network: try LoadedNetwork(package: package).network, options: options)
    }

    /// A pipeline around any network, e.g. a stand-in that checks the adapter's geometry.
    public init(manifest: ModelManifest, network: any InferenceNetwork, options: Options = Options()) {
        self.manifest = manifest
        self.network = network
        var options = options
        // The package may ask for sub-voxel landmarks (its model card reports figures with them).
        switch manifest.landmarkRefinement {
        case .centroid?: options.landmarkRefinement = .centroid
        case .parabolic?: options.landmarkRefinement = .parabolic
        case .peak?, nil: break
        }
        self.options = options
    }

    /// The network input and how it was made from the volumes.
    public struct PreparedInput: Sendable {
        /// [1, C, D, H, W] on `record.padded`, C = the manifest's inputs in order.
        public var tensor: Tensor
        public var record: PreprocessingRecord
        public var timings: [StepTiming]
    }

    /// Runs the whole recipe. `inputs` are one volume per manifest input, in manifest order, all
    /// on the same grid; the result is on that grid. The forward pass waits for
    /// `ForwardPassGate.shared` (the wait is not part of its timing). The inputs are consumed:
    /// once the tensor is made their voxels are released, unless the caller holds them too.
    /// `sharing`, `inputKey` and `expectedUses` share the normalised input with other pipelines
    /// whose `preprocessingKey` is the same (see `prepare`). `turn` is the job's place in line at
    /// the gate (its id).
    public func run(
        _ inputs: consuming [Volume], sharing: SharedInputs? = nil, inputKey: String = "", expectedUses: Int = 1,
        turn: Int? = nil
    ) throws(InferenceError) -> InferenceResult {
        let prepared = try prepare(inputs, sharing: sharing, inputKey: inputKey, expectedUses: expectedUses)
        let identity = InputIdentity(inputs[0])
        _ = consume inputs
        var clock = StepClock(timings: prepared.timings)
        let record = prepared.record
        let output: InferenceResult.Output
        switch manifest.task {
        case .segmentation:
            let probabilities = ForwardPassGate.shared.withPermit(turn: turn) {
                clock.measure(.network) { denseOutput(prepared.tensor, softmax: true) }
            }
            let labels = clock.measure(.postprocessing) {
                let maps = record.padding.crop(fromNetworkOrder(probabilities))
                return manifest.recipe == .nnunetV1
                    ? nnunetLabelMap(maps, record: record, like: identity)
                    : labelMap(maps, record: record, like: identity)
            }
            output = .segmentation(labels: labels)
        case .landmarks:
            let heatmaps = ForwardPassGate.shared.withPermit(turn: turn) {
                clock.measure(.network) { denseOutput(prepared.tensor, softmax: false) }
            }
            output = .landmarks(
                clock.measure(.postprocessing) {
                    landmarks(record.padding.crop(fromNetworkOrder(heatmaps)), record: record)
                })
        case .classification:
            let logits = ForwardPassGate.shared.withPermit(turn: turn) {
                clock.measure(.network) { network.forward(prepared.tensor) }
            }
            output = try clock.measure(.postprocessing) { () throws(InferenceError) -> InferenceResult.Output in
                try classification(logits)
            }
        }
        return InferenceResult(output: output, record: record, timings: clock.timings)
    }

    /// A dense output in the (k, j, i) order of `record.padded`: as the network gave it, or with
    /// its spatial axes permuted back for a package trained on another array order.
    func fromNetworkOrder(_ output: Tensor) -> Tensor {
        permutingSpatialAxes(output, inversePermutation(manifest.spatialPermutation))
    }

    /// Dense networks through the sliding window (step, Gaussian weighting, mirroring per
    /// manifest): probabilities with `softmax`, averaged raw heat-maps without.
    ///
    /// x: [1, C, D, H, W] -> [1, outputs, D, H, W].
    func denseOutput(_ x: Tensor, softmax: Bool) -> Tensor {
        let mirror = (manifest.mirrorAxes ?? []).map { $0 - 2 } // manifest: tensor axes 2…4
        let window = SlidingWindow(patch: manifest.patchSize, stepFraction: options.stepFraction, mirrorAxes: mirror)
        let out = window.predict(x, softmax: softmax) { network.forward($0) }
        // A loaded network is built from the manifest, so only a mis-built stand-in can differ.
        precondition(
            out.shape[1] == manifest.network.outputs,
            "network gave \(out.shape[1]) channels, the manifest declares \(manifest.network.outputs)")
        return out
    }
}

/// Times the steps of one run, in order.
struct StepClock {
    var timings: [StepTiming] = []

    mutating func measure<T, E: Error>(_ step: InferenceError.Step, _ body: () throws(E) -> T) throws(E) -> T {
        let start = ContinuousClock.now
        let value = try body()
        let elapsed = start.duration(to: .now)
        timings.append(
            StepTiming(
                step: step,
                seconds: Double(elapsed.components.seconds)
                    + Double(elapsed.components.attoseconds) * 1e-18))
        return value
    }
}
