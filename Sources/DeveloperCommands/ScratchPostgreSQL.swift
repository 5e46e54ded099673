import ArgumentParser
import DeveloperTools
import Foundation

#if canImport(Glibc)
    import Glibc
#endif

/// A throw-away PostgreSQL server for `bench cluster`: `initdb` in a folder of the bench's, a free
/// loopback port, stopped by its PID. The command lines, and running as the `postgres` user under
/// root, are DeveloperTools' PostgreSQLServerCommands.
final class ScratchPostgreSQL: Sendable {
    let port: UInt16
    private let server: Child

    var url: String {
        "postgresql://\(PostgreSQLServerCommands.user)@127.0.0.1:\(port)/\(PostgreSQLServerCommands.database)"
            + "?sslmode=disable"
    }

    private init(port: UInt16, server: Child) {
        self.port = port
        self.server = server
    }

    static func start(in directory: String) async throws -> ScratchPostgreSQL {
        guard let commands = PostgreSQLServerCommands.installed() else {
            throw ValidationError(
                "PostgreSQL's server is not installed under /usr/lib/postgresql (Scripts/bootstrap installs it)")
        }
        let data = directory + "/pgdata"
        try FileManager.default.createDirectory(atPath: data, withIntermediateDirectories: true)
        if PostgreSQLServerCommands.runsAsPostgresUser {
            guard await (try Child("/bin/chown", ["postgres:postgres", data])).wait() == 0 else {
                throw ValidationError("cannot give \(data) to the postgres user")
            }
            try FileManager.default.setAttributes([.posixPermissions: 0o755], ofItemAtPath: directory)
        }
        let initdb = commands.initdb(data: data)
        guard await (try Child(initdb.command, initdb.arguments)).wait() == 0 else {
            throw ValidationError("initdb failed in \(data)")
        }
        let port = BenchNodeCommand.freePort()
        let launch = commands.server(data: data, port: port)
        let server = try Child(launch.command, launch.arguments)
        let scratch = ScratchPostgreSQL(port: port, server: server)
        let isReady = commands.isReady(port: port)
        for _ in 0..<300 {
            if await (try Child(isReady.command, isReady.arguments)).wait() == 0 {
                try await scratch.psql("CREATE DATABASE \(PostgreSQLServerCommands.database)", database: "postgres")
                return scratch
            }
            guard server.isRunning else { break }
            try await Task.sleep(for: .milliseconds(100))
        }
        server.kill()
        throw ValidationError("PostgreSQL did not start on port \(port)")
    }

    /// Runs SQL with `psql` (its output is not needed).
    func psql(_ sql: String, database: String = PostgreSQLServerCommands.database) async throws {
        let psql = PostgreSQLServerCommands.psql(sql, port: port, database: database)
        guard await (try Child(psql.command, psql.arguments)).wait() == 0 else {
            throw ValidationError("psql failed: \(sql)")
        }
    }

    /// Fast shutdown (SIGINT), by the server's PID.
    func stop() async {
        server.signal(SIGINT)
        _ = await server.wait()
    }
}
