/// A configuration problem, naming the file, the line and the key path (e.g.
/// `node.yaml:14: routes[0].quiet_time: expected a duration such as 45s or 10m`).
public struct ConfigurationError: Error, Sendable, CustomStringConvertible {
    public var file: String
    public var line: Int?
    /// Dotted key path, with indices for sequences: `routes[2].match[0].regex`.
    public var key: String
    public var message: String

    public var description: String {
        var text = file
        if let line { text += ":\(line)" }
        if !key.isEmpty { text += ": \(key)" }
        return text + ": " + message
    }
}
