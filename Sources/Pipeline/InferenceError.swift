/// A problem running a model package on volumes (docs/inference.md), naming the pipeline step and
/// the manifest field, weight key or input it is about.
///
/// Messages carry sizes, spacings and keys only, never voxel values or patient data
/// (docs/style-guide.md §4).
///
/// ```swift
/// do { let pipeline = try InferencePipeline(package: package) }
/// catch let error where error.step == .loading { print(error.field ?? "", error.message) }
/// ```
public struct InferenceError: Error, Sendable, Equatable, CustomStringConvertible {
    /// The step of the recipe that failed, in pipeline order.
    public enum Step: String, Sendable, Codable {
        /// Reading the manifest and weights, building the network.
        case loading
        /// Checking the input volumes against the manifest and each other.
        case input
        case reorientation, crop, resampling, normalization, padding
        /// The forward pass (sliding window or whole volume).
        case network
        /// Undoing the geometry and decoding labels, landmarks or a class.
        case postprocessing
    }

    public var step: Step
    /// A manifest field (`network.channels`), a weight key (`in_conv.conv.0.weight`) or an input
    /// name (`inputs[1]`); nil when the step as a whole failed.
    public var field: String?
    public var message: String

    public init(_ step: Step, field: String? = nil, _ message: String) {
        self.step = step
        self.field = field
        self.message = message
    }

    public var description: String {
        "\(step.rawValue): " + (field.map { "\($0): " } ?? "") + message
    }
}
