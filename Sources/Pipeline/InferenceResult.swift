import Volume

/// What a model package produced for one set of input volumes, on the source geometry.
public struct InferenceResult: Sendable {
    public enum Output: Sendable {
        /// Class per voxel (0 = background) on the exact source grid, with the source's slice
        /// references and UIDs.
        case segmentation(labels: Volume)
        /// Each landmark of the manifest by name.
        case landmarks([String: LandmarkPosition])
        /// Probability of the positive class and the decision at the manifest's threshold.
        case classification(ClassificationScore)
    }

    public var output: Output
    /// How the input was prepared (and how the output was mapped back).
    public var record: PreprocessingRecord
    /// Wall-clock seconds per step, in the order the steps ran.
    public var timings: [StepTiming]
}

/// A landmark found by the pipeline: the heat-map peak mapped back through every recorded step.
public struct LandmarkPosition: Sendable, Equatable, Codable {
    /// Patient coordinates (LPS, mm).
    public var patient: SIMD3<Double>
    /// The source voxel (i, j, k) nearest to `patient`; may lie outside the source grid when the
    /// peak is in the padding.
    public var voxel: SIMD3<Int>
    /// The continuous source index of `patient`.
    public var index: SIMD3<Double>
    /// Heat-map value at the peak.
    public var peak: Float
}

/// The duration of one pipeline step.
public struct StepTiming: Sendable, Equatable, Codable {
    public var step: InferenceError.Step
    public var seconds: Double
}

/// What a result volume takes over from the input it was computed from, besides its grid: the
/// slice references and UIDs (without the voxels, which the pipeline releases once its tensor is
/// made).
struct InputIdentity: Sendable {
    var sources: [SliceReference]
    var seriesInstanceUID: String?
    var frameOfReferenceUID: String?

    init(_ volume: Volume) {
        sources = volume.sources
        seriesInstanceUID = volume.seriesInstanceUID
        frameOfReferenceUID = volume.frameOfReferenceUID
    }
}

/// A classifier's answer: the network's logit, the probability reported (calibrated when the
/// package says how) and the decision at the manifest's threshold.
public struct ClassificationScore: Sendable, Equatable, Codable {
    /// The logit of the positive class (for two outputs, their difference), before calibration.
    public var logit: Double
    /// σ(logit), or the package's calibration of it.
    public var probability: Double
    public var positive: Bool

    public init(logit: Double, probability: Double, positive: Bool) {
        self.logit = logit
        self.probability = probability
        self.positive = positive
    }
}
