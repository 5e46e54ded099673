import Foundation

#if canImport(Glibc)
    import Glibc
#endif

/// The command lines of a private PostgreSQL server for a test or a benchmark (Debian's server
/// binaries, which `Scripts/bootstrap` installs): `initdb` in a folder of the caller's, `postgres`
/// on a loopback port over TCP only, `pg_isready`. PostgreSQL refuses to run as root, so under
/// root the server tools run as the unprivileged `postgres` user through `setpriv`, which execs
/// in place: the PID the caller holds is the server's own. Starting, waiting and stopping are the
/// caller's (TestSupport's RunningPostgreSQL, DeveloperCommands' ScratchPostgreSQL).
public struct PostgreSQLServerCommands: Sendable {
    /// The role and the database that `initdb` and the caller create; trusted on loopback.
    public static let user = "mambanode"
    public static let database = "mambanode"

    /// `/usr/lib/postgresql/<version>/bin` of the newest version installed.
    public let bin: String

    /// The newest installed server, or nil when none is.
    public static func installed() -> PostgreSQLServerCommands? {
        let root = "/usr/lib/postgresql"
        let versions = (try? FileManager.default.contentsOfDirectory(atPath: root)) ?? []
        return versions.compactMap(Int.init).max().map { PostgreSQLServerCommands(bin: "\(root)/\($0)/bin") }
    }

    /// Whether the server tools run as the `postgres` user (this process is root), whose data
    /// folder must then belong to that user.
    public static var runsAsPostgresUser: Bool { geteuid() == 0 }

    /// `tool` of the server's bin folder with `arguments`, through `setpriv` under root.
    public func invocation(_ tool: String, _ arguments: [String]) -> (command: String, arguments: [String]) {
        let command = bin + "/" + tool
        return Self.runsAsPostgresUser
            ? ("/usr/bin/setpriv", ["--reuid=postgres", "--regid=postgres", "--init-groups", command] + arguments)
            : (command, arguments)
    }

    /// A new cluster in `data` whose superuser is `user`, trusted, with no fsync while it is made.
    public func initdb(data: String) -> (command: String, arguments: [String]) {
        invocation(
            "initdb", ["-D", data, "-U", Self.user, "--auth=trust", "--encoding=UTF8", "--no-locale", "--no-sync"])
    }

    /// The server on `data`, listening on 127.0.0.1:`port` only (no Unix socket).
    public func server(data: String, port: UInt16) -> (command: String, arguments: [String]) {
        invocation(
            "postgres",
            [
                "-D", data, "-p", "\(port)", "-c", "listen_addresses=127.0.0.1", "-c", "unix_socket_directories=",
                "-c", "max_connections=100"
            ])
    }

    /// `pg_isready` against the server on `port` (exit status 0 once it accepts connections).
    public func isReady(port: UInt16) -> (command: String, arguments: [String]) {
        (bin + "/pg_isready", ["-h", "127.0.0.1", "-p", "\(port)"])
    }

    /// `psql` running one statement, with tuples-only unaligned output and stopping on error.
    public static func psql(
        _ sql: String, port: UInt16, database: String = database
    ) -> (
        command: String, arguments: [String]
    ) {
        (
            "psql",
            [
                "-h", "127.0.0.1", "-p", "\(port)", "-U", user, "-d", database, "-X", "-A", "-t", "-v",
                "ON_ERROR_STOP=1", "-c", sql
            ]
        )
    }
}
