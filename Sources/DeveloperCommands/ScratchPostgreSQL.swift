import ArgumentParser
import Foundation

#if canImport(Glibc)
    import Glibc
#endif

/// A throw-away PostgreSQL server for `bench cluster`: Debian's server binaries (installed by
/// `Scripts/bootstrap`), `initdb` in a folder of the bench's, a free loopback port, TCP only,
/// as the `postgres` user under root (the server refuses root), stopped by its PID.
final class ScratchPostgreSQL: Sendable {
    let port: UInt16
    let bin: String
    private let server: Child

    var url: String { "postgresql://mambanode@127.0.0.1:\(port)/mambanode?sslmode=disable" }

    private init(port: UInt16, bin: String, server: Child) {
        self.port = port
        self.bin = bin
        self.server = server
    }

    static func start(in directory: String) async throws -> ScratchPostgreSQL {
        let root = "/usr/lib/postgresql"
        guard
            let version = ((try? FileManager.default.contentsOfDirectory(atPath: root)) ?? []).compactMap(Int.init)
                .max()
        else {
            throw ValidationError("PostgreSQL's server is not installed under \(root) (Scripts/bootstrap installs it)")
        }
        let bin = "\(root)/\(version)/bin"
        let data = directory + "/pgdata"
        try FileManager.default.createDirectory(atPath: data, withIntermediateDirectories: true)
        if geteuid() == 0 {
            guard await (try Child("/bin/chown", ["postgres:postgres", data])).wait() == 0 else {
                throw ValidationError("cannot give \(data) to the postgres user")
            }
            try FileManager.default.setAttributes([.posixPermissions: 0o755], ofItemAtPath: directory)
        }
        let initdb = try Child(
            invocation(bin + "/initdb"),
            prefix(bin + "/initdb") + ["-D", data, "-U", "mambanode", "--auth=trust", "--no-locale", "--no-sync"])
        guard await initdb.wait() == 0 else { throw ValidationError("initdb failed in \(data)") }
        let port = BenchNodeCommand.freePort()
        let server = try Child(
            invocation(bin + "/postgres"),
            prefix(bin + "/postgres") + [
                "-D", data, "-p", "\(port)", "-c", "listen_addresses=127.0.0.1", "-c", "unix_socket_directories=",
                "-c", "max_connections=100"
            ])
        let scratch = ScratchPostgreSQL(port: port, bin: bin, server: server)
        for _ in 0..<300 {
            if await (try Child(bin + "/pg_isready", ["-h", "127.0.0.1", "-p", "\(port)"])).wait() == 0 {
                try await scratch.psql("CREATE DATABASE mambanode", database: "postgres")
                return scratch
            }
            guard server.isRunning else { break }
            try await Task.sleep(for: .milliseconds(100))
        }
        server.kill()
        throw ValidationError("PostgreSQL did not start on port \(port)")
    }

    /// Runs SQL with `psql` (its output is not needed).
    func psql(_ sql: String, database: String = "mambanode") async throws {
        let status = await
            (try Child(
                "psql",
                [
                    "-h", "127.0.0.1", "-p", "\(port)", "-U", "mambanode", "-d", database, "-X", "-q", "-v",
                    "ON_ERROR_STOP=1", "-c", sql
                ]
            )).wait()
        guard status == 0 else { throw ValidationError("psql failed: \(sql)") }
    }

    /// Fast shutdown (SIGINT), by the server's PID.
    func stop() async {
        server.signal(SIGINT)
        _ = await server.wait()
    }

    private static func invocation(_ command: String) -> String { geteuid() == 0 ? "/usr/bin/setpriv" : command }

    private static func prefix(_ command: String) -> [String] {
        geteuid() == 0 ? ["--reuid=postgres", "--regid=postgres", "--init-groups", command] : []
    }
}
