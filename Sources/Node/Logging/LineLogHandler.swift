import Foundation
import Logging

/// A swift-log backend that writes one line per event to standard error, as text or as JSON.
/// Metadata keys are the node's own (correlation_id, series_instance_uid,
/// sop_instance_uid, destination, ...): the node never puts patient name, ID or birth date into
/// metadata or messages, so nothing here has to filter them.
public struct LineLogHandler: LogHandler {
    public enum Format: Sendable { case text, json }

    public var metadata: Logger.Metadata = [:]
    public var logLevel: Logger.Level
    let label: String
    let format: Format
    let write: @Sendable (String) -> Void

    public init(
        label: String, format: Format, level: Logger.Level,
        write: @escaping @Sendable (String) -> Void = { FileHandle.standardError.write(Data(($0 + "\n").utf8)) }
    ) {
        self.label = label
        self.format = format
        self.logLevel = level
        self.write = write
    }

    public subscript(metadataKey key: String) -> Logger.Metadata.Value? {
        get { metadata[key] }
        set { metadata[key] = newValue }
    }

    public func log(event: LogEvent) {
        var merged = metadata
        if let extra = event.metadata { merged.merge(extra) { _, new in new } }
        let time = LineLogHandler.timestamp()
        switch format {
        case .text:
            let fields = merged.sorted { $0.key < $1.key }.map { "\($0.key)=\($0.value)" }.joined(separator: " ")
            write("\(time) \(event.level) \(label): \(event.message)\(fields.isEmpty ? "" : " " + fields)")
        case .json:
            var object: [String: Any] = [
                "time": time, "level": "\(event.level)", "logger": label, "message": "\(event.message)"
            ]
            for (key, value) in merged { object[key] = LineLogHandler.json(value) }
            if let data = try? JSONSerialization.data(
                withJSONObject: object, options: [.sortedKeys, .withoutEscapingSlashes])
            {
                write(String(decoding: data, as: UTF8.self))
            }
        }
    }

    static func json(_ value: Logger.MetadataValue) -> Any {
        switch value {
        case .string(let s): s
        case .stringConvertible(let s): s.description
        case .array(let a): a.map(json)
        case .dictionary(let d): d.mapValues(json)
        }
    }

    static func timestamp() -> String {
        let formatter = ISO8601DateFormatter()
        formatter.formatOptions = [.withInternetDateTime, .withFractionalSeconds]
        return formatter.string(from: Date())
    }
}

extension LineLogHandler {
    /// Installs the handler for the whole process (once, at start-up, by the CLI).
    public static func bootstrap(_ logging: NodeConfiguration.Logging) {
        let level = Logger.Level(rawValue: logging.level.rawValue) ?? .info
        let format: Format = logging.format == .json ? .json : .text
        LoggingSystem.bootstrap { label in LineLogHandler(label: label, format: format, level: level) }
    }
}
