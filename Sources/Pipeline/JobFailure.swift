/// A job failure whose reason is a plain sentence (a missing input series, a model that is not
/// configured): what the node records as the job's reason and `process` prints.
public struct JobFailure: Error, CustomStringConvertible {
    public var description: String
    public init(_ description: String) { self.description = description }
}
