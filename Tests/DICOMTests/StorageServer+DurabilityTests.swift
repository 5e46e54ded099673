import Foundation
import TestSupport
import Testing

#if canImport(Glibc)
    import Glibc
#endif

/// `mambanode receive` as a child process: what it acknowledged survives its death, and SIGTERM
/// stops it cleanly (docs/architecture.md, Data flow).
@Suite struct StorageServerDurabilityTests {
    static func startReceiver(store: String, in dir: TemporaryDirectory) async throws -> (ChildProcess, UInt16) {
        let port = FreePort.allocate()
        let receiver = try ChildProcess(
            BuiltProducts.mambanode,
            [
                "receive", "--port", "\(port)", "--aet", "MAMBANODE",
                "--store", store, "--allow", "STORESCU"
            ],
            logDirectory: dir.path)
        guard await waitUntil({ FreePort.isListening(port) }) else {
            throw ToolError("mambanode receive did not listen: \(receiver.standardError)")
        }
        return (receiver, port)
    }

    @Test func everyAcknowledgedInstanceSurvivesSIGKILLOfTheReceiver() async throws {
        let dir = TemporaryDirectory("durability")
        let files = try SyntheticInstances.ctSeries(count: 200, rows: 512, columns: 512, in: try dir.subdirectory("s"))
        let store = try dir.subdirectory("store")
        let (receiver, port) = try await Self.startReceiver(store: store, in: dir)
        let sender = try ChildProcess(
            "storescu",
            ["-v", "-aet", "STORESCU", "-aec", "MAMBANODE", "127.0.0.1", "\(port)"]
                + files.map(\.path), logDirectory: dir.path)
        _ = await waitUntil {
            ((try? FileManager.default.contentsOfDirectory(atPath: store)) ?? []).filter { $0.hasSuffix(".dcm") }.count
                >= 10
        }
        receiver.signal(SIGKILL)
        #expect(await receiver.wait() == 128 + SIGKILL)
        _ = await sender.wait()

        // storescu sends in argument order and waits for each response: the successes are a prefix.
        let acknowledged = sender.standardError.components(separatedBy: "Received Store Response (Success)").count - 1
        #expect(acknowledged > 0 && acknowledged < files.count, "the kill did not land mid-transfer")
        for file in files.prefix(acknowledged) {
            let stored = store + "/" + file.sopInstanceUID + ".dcm"
            let dump = try await runTool("dcmdump", ["-q", stored])
            #expect(dump.status == 0, "acknowledged \(file.sopInstanceUID) unreadable or missing")
        }
        // Nothing half-written under a final name either.
        for name in try FileManager.default.contentsOfDirectory(atPath: store) where name.hasSuffix(".dcm") {
            #expect(try await runTool("dcmdump", ["-q", store + "/" + name]).status == 0, "\(name) unreadable")
        }
    }

    @Test func receiverStopsCleanlyOnSIGTERM() async throws {
        let dir = TemporaryDirectory("sigterm")
        let files = try SyntheticInstances.ctSeries(count: 20, in: try dir.subdirectory("s"))
        let store = try dir.subdirectory("store")
        let (receiver, port) = try await Self.startReceiver(store: store, in: dir)
        let send = try await runTool(
            "storescu",
            ["-aet", "STORESCU", "-aec", "MAMBANODE", "127.0.0.1", "\(port)"]
                + files.map(\.path))
        #expect(send.status == 0, "\(send.errorOutput)")
        receiver.signal(SIGTERM)
        #expect(await receiver.wait() == 0, "\(receiver.standardError)")
        let lines = receiver.standardOutput.split(separator: "\n")
        #expect(lines.count == 20)
        #expect(lines.allSatisfy { $0.hasPrefix("stored ") && $0.contains("STORESCU@") })
        #expect(!receiver.standardOutput.contains("Synthetic"), "patient name in the output")
    }
}
