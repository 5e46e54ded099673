import Foundation

#if canImport(Glibc)
    import Glibc
#endif

/// A child process started by a test and stopped by its PID. Output goes to files so that a
/// chatty child can never block on a full pipe.
public final class ChildProcess: @unchecked Sendable {
    // Process is not Sendable; this wrapper only reads its pid and waits, from one test at a time.
    private let process: Process
    public let stdoutPath: String
    public let stderrPath: String

    public var pid: Int32 { process.processIdentifier }

    /// Starts `executable` (a path, or a name looked up in PATH) with `arguments`. The child
    /// inherits the environment plus `environment`, and always TCP_NODELAY=1 (docs/platform-notes.md §1).
    public init(
        _ executable: String, _ arguments: [String], environment: [String: String] = [:],
        logDirectory: String
    ) throws {
        process = Process()
        process.executableURL = URL(fileURLWithPath: try ChildProcess.resolve(executable))
        process.arguments = arguments
        var env = ProcessInfo.processInfo.environment
        env["TCP_NODELAY"] = "1"
        env.merge(environment) { _, new in new }
        process.environment = env
        let name = URL(fileURLWithPath: executable).lastPathComponent + "-" + UUID().uuidString.prefix(6)
        stdoutPath = logDirectory + "/" + name + ".out"
        stderrPath = logDirectory + "/" + name + ".err"
        _ = FileManager.default.createFile(atPath: stdoutPath, contents: nil)
        _ = FileManager.default.createFile(atPath: stderrPath, contents: nil)
        process.standardOutput = FileHandle(forWritingAtPath: stdoutPath)
        process.standardError = FileHandle(forWritingAtPath: stderrPath)
        process.standardInput = FileHandle.nullDevice
        try process.run()
    }

    /// Sends `signal` to the child (by PID).
    public func signal(_ signal: Int32) { Glibc.kill(process.processIdentifier, signal) }

    /// Waits for the child to exit and returns its status (128 + signal when killed). Polls, so
    /// that waiting tests do not block Swift's few cooperative threads (2 on the CI machines).
    @discardableResult
    public func wait() async -> Int32 {
        while process.isRunning { try? await Task.sleep(for: .milliseconds(10)) }
        return waitBlocking()
    }

    /// Waits blocking the calling thread; for synchronous helpers only.
    @discardableResult
    public func waitBlocking() -> Int32 {
        process.waitUntilExit()
        return process.terminationReason == .uncaughtSignal
            ? 128 + process.terminationStatus : process.terminationStatus
    }

    public var isRunning: Bool { process.isRunning }

    /// SIGKILL and wait: for peers with nothing to clean up (storescp ignores SIGTERM while it
    /// waits for an association).
    @discardableResult
    public func kill() async -> Int32 {
        signal(SIGKILL)
        return await wait()
    }

    /// SIGTERM, then SIGKILL if it has not exited within `grace` seconds; returns the status.
    @discardableResult
    public func stop(grace: Double = 10) async -> Int32 {
        if process.isRunning {
            signal(SIGTERM)
            let process = self.process
            if !(await waitUntil(seconds: grace, { !process.isRunning })) { signal(SIGKILL) }
        }
        return await wait()
    }

    public var standardOutput: String { (try? String(contentsOfFile: stdoutPath, encoding: .utf8)) ?? "" }
    public var standardError: String { (try? String(contentsOfFile: stderrPath, encoding: .utf8)) ?? "" }

    deinit {
        if process.isRunning {
            Glibc.kill(process.processIdentifier, SIGKILL)
            process.waitUntilExit()
        }
    }

    /// The executable's path: the package's own binaries by path; a tool on PATH, whose absence
    /// skips the running test (``MissingTool``).
    static func resolve(_ executable: String) throws -> String {
        if executable.contains("/") { return executable }
        return try MissingTool.path(of: executable)
    }
}

/// A failure of a test helper (a missing tool, a tool that failed).
public struct ToolError: Error, CustomStringConvertible {
    public var description: String
    public init(_ description: String) { self.description = description }
}

/// The result of a command run to completion.
public struct ToolResult: Sendable {
    public var status: Int32
    public var output: String
    public var errorOutput: String
}

/// Runs a command to completion (e.g. `dcmdump`, `echoscu`), with TCP_NODELAY=1.
@discardableResult
public func runTool(
    _ executable: String, _ arguments: [String], environment: [String: String] = [:]
) async throws -> ToolResult {
    let logs = TemporaryDirectory("tool")
    let child = try ChildProcess(executable, arguments, environment: environment, logDirectory: logs.path)
    let status = await child.wait()
    return ToolResult(status: status, output: child.standardOutput, errorOutput: child.standardError)
}

/// Runs a short command blocking the calling thread; throws unless it exits 0.
public func runToolChecked(_ executable: String, _ arguments: [String]) throws {
    let logs = TemporaryDirectory("tool")
    let child = try ChildProcess(executable, arguments, logDirectory: logs.path)
    let status = child.waitBlocking()
    let result = ToolResult(status: status, output: child.standardOutput, errorOutput: child.standardError)
    if result.status != 0 {
        throw ToolError(
            "\(executable) \(arguments.joined(separator: " ")) exited \(result.status): \(result.errorOutput)")
    }
}

/// Built products of this package (the `mambanode` executable sits next to the test bundle).
public enum BuiltProducts {
    public static var mambanode: String {
        let exe =
            (try? FileManager.default.destinationOfSymbolicLink(atPath: "/proc/self/exe")) ?? CommandLine.arguments[0]
        var dir = URL(fileURLWithPath: exe).deletingLastPathComponent()
        // Inside a bundle (…/X.xctest/Contents/MacOS on Darwin) climb to the products directory.
        while dir.path.contains(".xctest") { dir = dir.deletingLastPathComponent() }
        return dir.appendingPathComponent("mambanode").path
    }
}

extension BuiltProducts {
    /// `mambanode serve --config config`, logging into `logDirectory`, once every port in
    /// `listening` accepts connections; throws with the node's stderr when it does not.
    public static func serve(
        config: String, logDirectory: String, listening ports: [UInt16]
    ) async throws -> ChildProcess {
        let child = try ChildProcess(mambanode, ["serve", "--config", config], logDirectory: logDirectory)
        guard await waitUntil({ ports.allSatisfy(FreePort.isListening) }) else {
            throw ToolError("mambanode serve did not listen on \(ports): \(child.standardError)")
        }
        return child
    }
}
