import Foundation
import Yams

/// Walks a composed YAML document with the key path at hand, so that every error names the key
/// and line, and unknown keys (typos) are refused instead of silently ignored.
struct ConfigurationReader {
    let file: String
    let node: Node
    let path: String

    init(file: String, node: Node, path: String = "") {
        self.file = file
        self.node = node
        self.path = path
    }

    func error(_ message: String, key: String? = nil) -> ConfigurationError {
        ConfigurationError(
            file: file, line: node.mark.map { $0.line }, key: key.map { child($0) } ?? path, message: message)
    }

    func child(_ key: String) -> String { path.isEmpty ? key : "\(path).\(key)" }

    var mapping: Node.Mapping? { node.mapping }

    /// Refuses keys not in `allowed`.
    func expectKeys(_ allowed: Set<String>) throws {
        guard let mapping = node.mapping else { throw error("expected a mapping") }
        for (key, _) in mapping {
            guard let name = key.string else { throw error("keys must be text") }
            if !allowed.contains(name) {
                throw ConfigurationReader(file: file, node: key, path: path)
                    .error("unknown key (expected one of: \(allowed.sorted().joined(separator: ", ")))", key: name)
            }
        }
    }

    subscript(key: String) -> ConfigurationReader? {
        // An explicit null (`key:` or `key: ~`) reads as absent, so defaults apply.
        guard let value = node.mapping?[key], value.null == nil else { return nil }
        return ConfigurationReader(file: file, node: value, path: child(key))
    }

    func required(_ key: String) throws -> ConfigurationReader {
        guard let value = self[key] else { throw error("missing", key: key) }
        return value
    }

    var items: [ConfigurationReader] {
        get throws {
            guard let sequence = node.sequence else { throw error("expected a list") }
            return sequence.enumerated().map { ConfigurationReader(file: file, node: $1, path: "\(path)[\($0)]") }
        }
    }

    var entries: [(String, ConfigurationReader)] {
        get throws {
            guard let mapping = node.mapping else { throw error("expected a mapping") }
            return try mapping.map { key, value in
                guard let name = key.string else { throw error("keys must be text") }
                return (name, ConfigurationReader(file: file, node: value, path: child(name)))
            }
        }
    }

    var string: String {
        get throws {
            guard let text = node.scalar?.string else { throw error("expected text") }
            return text
        }
    }

    var int: Int {
        get throws {
            guard let text = node.scalar?.string, let value = Int(text) else { throw error("expected an integer") }
            return value
        }
    }

    var double: Double {
        get throws {
            guard let text = node.scalar?.string, let value = Double(text) else { throw error("expected a number") }
            return value
        }
    }

    var bool: Bool {
        get throws {
            switch node.scalar?.string.lowercased() {
            case "true", "yes", "on": return true
            case "false", "no", "off": return false
            default: throw error("expected true or false")
            }
        }
    }

    func port() throws -> UInt16 {
        let value = try int
        guard (1...65535).contains(value) else { throw error("port \(value) is not in 1…65535") }
        return UInt16(value)
    }

    /// A duration: a number of seconds or a number with a unit (ms, s, m, h, d).
    var duration: Double {
        get throws {
            guard let text = node.scalar?.string.trimmingCharacters(in: .whitespaces), !text.isEmpty else {
                throw error("expected a duration such as 45s, 10m or 24h")
            }
            let units: [(String, Double)] = [("ms", 0.001), ("s", 1), ("m", 60), ("h", 3600), ("d", 86400)]
            for (unit, factor) in units where text.hasSuffix(unit) {
                if let number = Double(text.dropLast(unit.count)), number >= 0 { return number * factor }
            }
            if let number = Double(text), number >= 0 { return number }
            throw error("'\(text)' is not a duration such as 45s, 10m or 24h")
        }
    }

    var strings: [String] {
        get throws {
            if node.scalar != nil { return [try string] }
            return try items.map { try $0.string }
        }
    }
}
