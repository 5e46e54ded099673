import Foundation
import TestSupport
import Testing

/// The private PostgreSQL server the cluster tests share a database through
/// (`RunningPostgreSQL`): it starts on a free loopback port, answers SQL, and is gone, port and
/// process, once stopped by its PID.
@Suite struct PostgreSQLServerTests {
    @Test func aPrivateServerStartsAnswersAndStopsByItsPID() async throws {
        let dir = TemporaryDirectory("postgres")
        let server = try await RunningPostgreSQL.start(in: dir)
        #expect(server.url == "postgresql://mambanode@127.0.0.1:\(server.port)/mambanode")
        #expect(try server.psql("SELECT 40 + 2") == "42")
        try server.psql("CREATE TABLE t (x int PRIMARY KEY)")
        try server.psql("INSERT INTO t VALUES (1), (2)")
        #expect(try server.psql("SELECT count(*) FROM t") == "2")
        // The server refuses root, so under root it runs as the postgres user.
        let owner = try ExternalTool.check("ps", ["-o", "user=", "-p", "\(server.pid)"])
        if geteuid() == 0 { #expect(owner.trimmingCharacters(in: .whitespacesAndNewlines) == "postgres") }
        let status = await server.stop()
        #expect(status == 0, "postgres exited \(status)")
        #expect(!FreePort.isListening(server.port))
    }
}
