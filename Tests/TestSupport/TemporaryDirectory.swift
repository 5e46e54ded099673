import Foundation

/// A fresh directory under the system temporary directory, removed when the value goes away.
public final class TemporaryDirectory: Sendable {
    public let path: String

    /// A test cannot go on without its directory, so failing to make one stops the test run.
    public init(_ label: String = "test") {
        let base = FileManager.default.temporaryDirectory.path
        path = base + "/mambanode-\(label)-\(UUID().uuidString.prefix(8))"
        do {
            try FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true)
        } catch {
            fatalError("cannot create temporary directory \(path): \(error)")
        }
    }

    /// The path of `name` inside the directory.
    public func file(_ name: String) -> String { path + "/" + name }

    /// Creates (when needed) and returns a subdirectory.
    public func subdirectory(_ name: String) throws -> String {
        let sub = path + "/" + name
        try FileManager.default.createDirectory(atPath: sub, withIntermediateDirectories: true)
        return sub
    }

    deinit { try? FileManager.default.removeItem(atPath: path) }
}
