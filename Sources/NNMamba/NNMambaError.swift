/// The one error type of the engine: bad weights, bad fixture files, bad input data.
///
/// Shape bugs inside the engine are `precondition`s, not errors (docs/style-guide.md §4). Errors carry the
/// offending key and the expected/actual shapes as fields, so callers and tests can match on
/// them without parsing text.
///
/// ```swift
/// do { let net = try NNMambaSeg(weights: w, configuration: cfg) }
/// catch let e as NNMambaError where e.code == .shapeMismatch { print(e.key ?? "", e.actualShape ?? []) }
/// ```
public struct NNMambaError: Error, Equatable, CustomStringConvertible, Sendable {
    /// What went wrong.
    public enum Code: String, Sendable {
        /// A tensor the model needs is not in the weights file.
        case missingKey
        /// The weights file holds a tensor the model does not use.
        case unexpectedKey
        /// A tensor has a different shape than the model configuration implies.
        case shapeMismatch
        /// A tensor has a dtype the engine cannot use there.
        case unsupportedDType
        /// Shared (duplicated) tensors that should be identical differ.
        case inconsistentDuplicate
        /// The file is not a well-formed safetensors file (truncated, bad header, bad offsets).
        case malformedFile
        /// The file could not be opened or read.
        case io
        /// A configuration value is invalid (e.g. a fixture's config.json).
        case invalidConfiguration
        /// Input data does not fit the model (e.g. wrong channel count).
        case invalidInput
    }

    public var code: Code
    /// The tensor key or file the error is about.
    public var key: String?
    public var expectedShape: [Int]?
    public var actualShape: [Int]?
    /// Human-readable detail.
    public var message: String

    public init(
        _ code: Code, key: String? = nil, expectedShape: [Int]? = nil, actualShape: [Int]? = nil,
        _ message: String = ""
    ) {
        self.code = code
        self.key = key
        self.expectedShape = expectedShape
        self.actualShape = actualShape
        self.message = message
    }

    public var description: String {
        var parts = ["\(code.rawValue)"]
        if let key { parts.append("key '\(key)'") }
        if let expectedShape { parts.append("expected shape \(expectedShape)") }
        if let actualShape { parts.append("actual shape \(actualShape)") }
        if !message.isEmpty { parts.append(message) }
        return parts.joined(separator: ": ")
    }
}
