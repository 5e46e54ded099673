import DeveloperTools
import Foundation
import Testing

#if canImport(Glibc)
    import Glibc
#endif

/// A private PostgreSQL server for one test: `initdb` in a folder of its own, `postgres` on a free
/// loopback port (TCP only, no Unix socket), stopped by its PID. The command lines, and running
/// as the `postgres` user under root, are DeveloperTools' PostgreSQLServerCommands.
///
/// ```swift
/// let server = try await RunningPostgreSQL.start(in: dir)
/// defer { Task { await server.stop() } }
/// let answer = try server.psql("SELECT 40 + 2")   // "42"
/// ```
public final class RunningPostgreSQL: Sendable {
    public let port: UInt16
    public let user = PostgreSQLServerCommands.user
    public let database = PostgreSQLServerCommands.database
    public let dataDirectory: String
    let logDirectory: String
    let process: ChildProcess

    /// The URL the node's configuration takes (`storage.database`), without a password: the
    /// server trusts loopback connections.
    public var url: String { "postgresql://\(user)@127.0.0.1:\(port)/\(database)" }

    public var pid: Int32 { process.pid }

    private init(port: UInt16, dataDirectory: String, logDirectory: String, process: ChildProcess) {
        self.port = port
        self.dataDirectory = dataDirectory
        self.logDirectory = logDirectory
        self.process = process
    }

    /// The installed server's commands; cancels the test when none is installed.
    static func commands() throws -> PostgreSQLServerCommands {
        guard let commands = PostgreSQLServerCommands.installed() else {
            try Test.cancel("skipped: PostgreSQL's server is not installed (Scripts/bootstrap installs it)")
        }
        return commands
    }

    /// Initialises a cluster under `directory` and starts it; returns once it accepts
    /// connections and the `mambanode` database exists.
    public static func start(
        in directory: TemporaryDirectory, timeout: Double = 60
    ) async throws
        -> RunningPostgreSQL
    {
        let commands = try commands()
        let data = directory.file("pgdata")
        try FileManager.default.createDirectory(atPath: data, withIntermediateDirectories: true)
        if PostgreSQLServerCommands.runsAsPostgresUser {
            // The server's user must own its folder and reach it.
            _ = try ExternalTool.check("/bin/chown", ["postgres:postgres", data])
            try FileManager.default.setAttributes([.posixPermissions: 0o755], ofItemAtPath: directory.path)
        }
        let (initdb, initArguments) = commands.initdb(data: data)
        let initialised = try ExternalTool.run(initdb, initArguments)
        guard initialised.status == 0 else {
            throw ExternalTool.Failure(tool: initdb, arguments: initArguments, result: initialised)
        }
        let server = try await launch(
            commands: commands, data: data, port: FreePort.allocate(), directory: directory.path, timeout: timeout)
        _ = try server.psql("CREATE DATABASE mambanode", database: "postgres")
        return server
    }

    /// The same server started again after `stop()`: same data, same port (a database restart
    /// as its clients see it).
    public func restart(timeout: Double = 60) async throws -> RunningPostgreSQL {
        try await Self.launch(
            commands: try Self.commands(), data: dataDirectory, port: port, directory: logDirectory, timeout: timeout)
    }

    private static func launch(
        commands: PostgreSQLServerCommands, data: String, port: UInt16, directory: String, timeout: Double
    ) async throws -> RunningPostgreSQL {
        let (postgres, arguments) = commands.server(data: data, port: port)
        let process = try ChildProcess(postgres, arguments, logDirectory: directory)
        let server = RunningPostgreSQL(port: port, dataDirectory: data, logDirectory: directory, process: process)
        let ready = await waitUntil(seconds: timeout) {
            guard process.isRunning else { return true }
            let (isReady, readyArguments) = commands.isReady(port: port)
            return (try? ExternalTool.run(isReady, readyArguments).status) == 0
        }
        guard ready, process.isRunning else {
            await server.stop()
            let log = (try? String(contentsOfFile: process.stderrPath, encoding: .utf8)) ?? ""
            throw ExternalTool.Failure(
                tool: postgres, arguments: arguments,
                result: ExternalTool.Result(status: -1, output: "did not accept connections: \(log)"))
        }
        return server
    }

    /// Runs one SQL statement with `psql` and returns its unaligned, tuples-only output.
    @discardableResult
    public func psql(_ sql: String, database: String? = nil) throws -> String {
        let (psql, arguments) = PostgreSQLServerCommands.psql(sql, port: port, database: database ?? self.database)
        return try ExternalTool.check(psql, arguments).trimmingCharacters(in: .whitespacesAndNewlines)
    }

    /// Fast shutdown (SIGINT: open sessions are ended, the data is consistent), by the server's
    /// PID; SIGKILL if it has not gone within 20 s.
    @discardableResult
    public func stop() async -> Int32 {
        guard process.isRunning else { return await process.wait() }
        process.signal(SIGINT)
        let process = self.process
        if !(await waitUntil(seconds: 20, { !process.isRunning })) { process.signal(SIGKILL) }
        return await process.wait()
    }
}
