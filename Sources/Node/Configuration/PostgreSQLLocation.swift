import Foundation

/// Where a shared PostgreSQL database is (`storage.database: postgresql://user@host:port/db`) and
/// how to log in (docs/cluster.md, Configuration). The password is never in the YAML: it comes
/// from `storage.password_file` (the password alone, mode 600) or from the file `PGPASSFILE` names
/// (libpq's `host:port:database:user:password` lines, `*` matching anything).
public struct PostgreSQLLocation: Sendable, Equatable {
    public enum TLSMode: String, Sendable, Equatable {
        /// Plain TCP.
        case disable
        /// TLS when the server offers it (libpq's default).
        case prefer
        /// TLS or no connection.
        case require
    }

    public var host: String
    public var port: Int
    public var user: String
    public var database: String
    public var password: String?
    public var tls: TLSMode

    /// What the logs show: no password.
    public var redacted: String { "postgresql://\(user)@\(host):\(port)/\(database)" }

    /// Whether `value` of `storage.database` names PostgreSQL (else it is an SQLite file).
    static func isURL(_ value: String) -> Bool {
        value.hasPrefix("postgresql://") || value.hasPrefix("postgres://")
    }

    /// Parses `storage.database`; `passwordFile` is `storage.password_file`, `environment` gives
    /// `PGPASSFILE`. Errors name `storage.database` or `storage.password_file`.
    static func parse(
        _ value: String, passwordFile: String?, environment: [String: String], reader: ConfigurationReader
    ) throws -> PostgreSQLLocation {
        guard let url = URLComponents(string: value), let host = url.host, !host.isEmpty else {
            throw reader.error("expected postgresql://user@host:port/database")
        }
        if url.password != nil {
            throw reader.error(
                "must not contain a password: put it in storage.password_file (mode 600) or PGPASSFILE")
        }
        guard let user = url.user, !user.isEmpty else {
            throw reader.error("names no user (postgresql://USER@host/db)")
        }
        let database = String(url.path.drop(while: { $0 == "/" }))
        guard !database.isEmpty, !database.contains("/") else {
            throw reader.error("names no database (postgresql://user@host:port/DATABASE)")
        }
        var tls = TLSMode.prefer
        for item in url.queryItems ?? [] {
            guard item.name == "sslmode", let mode = item.value.flatMap(TLSMode.init(rawValue:)) else {
                throw reader.error(
                    "unknown parameter '\(item.name)=\(item.value ?? "")' (only sslmode=disable|prefer|require)")
            }
            tls = mode
        }
        var location = PostgreSQLLocation(
            host: host, port: url.port ?? 5432, user: user, database: database, password: nil, tls: tls)
        if let passwordFile {
            location.password = try readPasswordFile(passwordFile, file: reader.file)
        } else if let pass = environment["PGPASSFILE"] {
            location.password = try passwordFromPGPASSFILE(pass, for: location, file: reader.file)
        }
        return location
    }

    /// A file holding the password alone; like a TLS key, not readable by group or others.
    static func readPasswordFile(_ path: String, file: String) throws -> String {
        let key = "storage.password_file"
        let text = try PrivateFile.read(path, file: file, key: key)
        let password = text.trimmingCharacters(in: .newlines)
        guard !password.isEmpty else {
            throw ConfigurationError(file: file, line: nil, key: key, message: "\(path) is empty")
        }
        return password
    }

    /// The password of the first line of a libpq password file that matches the location.
    static func passwordFromPGPASSFILE(_ path: String, for location: PostgreSQLLocation, file: String) throws -> String?
    {
        let text = try PrivateFile.read(path, file: file, key: "PGPASSFILE")
        for line in text.split(separator: "\n") where !line.hasPrefix("#") {
            let fields = splitPassLine(String(line))
            guard fields.count == 5 else { continue }
            let wanted = [location.host, "\(location.port)", location.database, location.user]
            if zip(fields.prefix(4), wanted).allSatisfy({ $0 == "*" || $0 == $1 }) { return fields[4] }
        }
        return nil
    }

    /// `host:port:db:user:password`, where `\:` and `\\` are a literal colon and backslash.
    static func splitPassLine(_ line: String) -> [String] {
        var fields: [String] = [], current = "", escaped = false
        for c in line {
            if escaped {
                current.append(c)
                escaped = false
            } else if c == "\\" {
                escaped = true
            } else if c == ":" {
                fields.append(current)
                current = ""
            } else {
                current.append(c)
            }
        }
        fields.append(current)
        return fields
    }
}

/// What a node of a cluster does (`node.roles`; all four by default): receive instances, run
/// jobs, send results, serve the HTTP API. A receive-only node behind a load balancer and
/// worker-only nodes on machines with more cores share one database and store.
public enum NodeRole: String, Sendable, CaseIterable, Codable {
    case receive, work, send, http
}
