import Foundation

/// A secret kept in a file that only its owner may read: the HTTP API token, the PostgreSQL
/// password file, PGPASSFILE. A file that group or others can access is refused, as libpq
/// refuses such a password file, so a secret left world-readable stops the node at start instead
/// of being used.
enum PrivateFile {
    /// The file's text. Throws a ConfigurationError naming `key` (in configuration file `file`)
    /// when the file cannot be read or its mode grants group or others any access.
    static func read(_ path: String, file: String, key: String) throws -> String {
        let attributes: [FileAttributeKey: Any]
        let text: String
        do {
            attributes = try FileManager.default.attributesOfItem(atPath: path)
            text = try String(contentsOfFile: path, encoding: .utf8)
        } catch {
            throw ConfigurationError(
                file: file, line: nil, key: key, message: "cannot read \(path): \(error.localizedDescription)")
        }
        if let mode = attributes[.posixPermissions] as? Int, mode & 0o077 != 0 {
            throw ConfigurationError(
                file: file, line: nil, key: key,
                message: "\(path) is accessible by group or others (mode \(String(mode, radix: 8))); chmod 600 it")
        }
        return text
    }
}
