/// The error of the sample generators: a missing template, an unusable input file or request,
/// with the file it is about.
///
/// ```swift
/// do { _ = try BrainTemplate.mni152(searching: ["."]) }
/// catch let error as SampleError where error.code == .missingFile { print(error) }
/// ```
public struct SampleError: Error, Sendable, Equatable, CustomStringConvertible {
    public enum Code: String, Sendable {
        /// A template or input file is not where it should be (package not installed).
        case missingFile
        /// A file was read but cannot be used (not 3D, empty mask, grids that do not match).
        case badInput
        /// A request the generator cannot meet (no room for a tumour in the mask, unknown case).
        case badRequest
    }

    public var code: Code
    public var path: String?
    public var reason: String

    public init(_ code: Code, _ reason: String, path: String? = nil) {
        self.code = code
        self.reason = reason
        self.path = path
    }

    public var description: String {
        "\(code.rawValue): " + (path.map { "\($0): " } ?? "") + reason
    }
}
