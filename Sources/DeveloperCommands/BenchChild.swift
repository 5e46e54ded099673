import Foundation

#if canImport(Glibc)
    import Glibc
#endif

/// A child process with TCP_NODELAY=1 (docs/platform-notes.md §1) and its output discarded.
final class Child: Sendable {
    private let pid: Int32
    private let process: UncheckedProcess

    init(_ executable: String, _ arguments: [String]) throws {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: executable.contains("/") ? executable : "/usr/bin/env")
        process.arguments = executable.contains("/") ? arguments : [executable] + arguments
        var environment = ProcessInfo.processInfo.environment
        environment["TCP_NODELAY"] = "1"
        process.environment = environment
        process.standardOutput = FileHandle.nullDevice
        process.standardError = FileHandle.nullDevice
        try process.run()
        self.process = UncheckedProcess(process)
        pid = process.processIdentifier
    }

    func wait() async -> Int32 {
        while process.value.isRunning { try? await Task.sleep(for: .milliseconds(5)) }
        return process.value.terminationStatus
    }

    var processIdentifier: Int32 { pid }

    var isRunning: Bool { process.value.isRunning }

    func signal(_ value: Int32) { Glibc.kill(pid, value) }

    func kill() {
        Glibc.kill(pid, SIGKILL)
        process.value.waitUntilExit()
    }
}

/// Process is not Sendable; a Child only reads it (isRunning, status) after starting it.
struct UncheckedProcess: @unchecked Sendable {
    let value: Process
    init(_ value: Process) { self.value = value }
}
