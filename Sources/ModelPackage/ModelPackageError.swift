/// A problem with a model package, naming the package folder and the field or weight key.
public struct ModelPackageError: Error, Sendable, CustomStringConvertible {
    public var package: String
    /// JSON path such as `labels[2].category.code`, or a weight key.
    public var field: String
    public var message: String

    public init(package: String, field: String, message: String) {
        self.package = package
        self.field = field
        self.message = message
    }

    public var description: String { "\(package): \(field.isEmpty ? "" : field + ": ")\(message)" }
}
