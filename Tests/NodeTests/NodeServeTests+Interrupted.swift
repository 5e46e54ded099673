import DICOM
import Foundation
import TestSupport
import Testing

@testable import Node

#if canImport(Glibc)
    import Glibc
#endif

/// Interrupted series against the real `mambanode serve` (docs/node-behaviour.md, Interrupted
/// series): a fragment must never be processed as if it were the whole series.
extension NodeServeTests {
    /// storescu paced to about 20 instances a second: without TCP_NODELAY each C-STORE waits for
    /// the peer's delayed ACK (docs/platform-notes.md), which gives a test time to cut it off.
    static func pacedPush(_ node: Node, files: [String]) throws -> ChildProcess {
        try ChildProcess(
            "storescu", ["-aet", "CT01", "-aec", "MAMBANODE", "127.0.0.1", "\(node.port)"] + files,
            environment: ["TCP_NODELAY": "0"], logDirectory: node.directory.path)
    }

    static func storedFiles(_ node: Node) -> Int {
        ((try? FileManager.default.contentsOfDirectory(atPath: node.instances)) ?? []).filter { $0.hasSuffix(".dcm") }
            .count
    }

    static func withGrace(_ node: Node, _ grace: String) throws {
        var yaml = try String(contentsOfFile: node.configPath, encoding: .utf8)
        yaml = yaml.replacingOccurrences(of: "quiet_time: 1s }", with: "quiet_time: 1s, interrupted_grace: \(grace) }")
        try yaml.write(toFile: node.configPath, atomically: true, encoding: .utf8)
    }

    /// The modality sends the whole series again (normally released); once its job exists, and a
    /// little longer in case a second one would follow, the node is stopped.
    static func resendAndStop(
        _ node: Node, _ written: SeriesGenerator.Written, _ child: ChildProcess,
        _ store: NodeStore
    ) async throws {
        let resend = try await runTool(
            "storescu",
            ["-aet", "CT01", "-aec", "MAMBANODE", "127.0.0.1", "\(node.port)"]
                + written.files)
        #expect(resend.status == 0, "\(resend.errorOutput)")
        #expect(await waitUntil { (try? store.jobs().count) == 1 })
        try await Task.sleep(for: .seconds(2))
        child.signal(SIGTERM)
        #expect(await child.wait() == 0, "\(child.standardError.suffix(2000))")
    }

    /// The sender dies after about 30 of 64 instances (its connection is lost, no A-RELEASE),
    /// pauses for three times the quiet time, then sends the whole series again: one job, on all
    /// 64 instances, version 1.
    @Test func aSeriesCutOffMidTransferWaitsForTheResend() async throws {
        let node = try Self.makeNode(quietTime: "1s")
        let written = try Self.generateSeries(slices: 64, in: node.directory.file("input"))
        let child = try await Self.start(node)
        let sender = try Self.pacedPush(node, files: written.files)
        #expect(await waitUntil { Self.storedFiles(node) >= 30 })
        await sender.kill()
        let fragment = Self.storedFiles(node)
        #expect(fragment < 64, "the sender finished before it could be cut off")
        try await Task.sleep(for: .seconds(3))
        let store = try Self.store(node)
        #expect(try store.jobs().isEmpty, "the fragment of \(fragment) instances was processed as a series")
        #expect(try store.series(written.seriesInstanceUID)?.interruption?.contains("ended abnormally") == true)

        try await Self.resendAndStop(node, written, child, store)
        let jobs = try store.jobs()
        #expect(jobs.count == 1 && jobs.first?.version == 1 && jobs.first?.caveats == [])
        let series = try #require(try store.series(written.seriesInstanceUID))
        #expect(series.instanceCount == 64 && series.version == 1 && series.interruption == nil)
    }

    /// The node is killed after about 100 of 256 instances and restarted; the quiet time passed
    /// during the outage. The series waits for the modality's full re-send: one job, 256 instances.
    @Test func aSeriesArrivingWhenTheNodeIsKilledWaitsForTheResend() async throws {
        let node = try Self.makeNode(quietTime: "1s")
        let written = try Self.generateSeries(slices: 256, in: node.directory.file("input"))
        var child = try await Self.start(node)
        let sender = try Self.pacedPush(node, files: written.files)
        #expect(await waitUntil { Self.storedFiles(node) >= 100 })
        child.signal(SIGKILL)
        #expect(await child.wait() == 128 + SIGKILL)
        _ = await sender.wait()
        try await Task.sleep(for: .seconds(3)) // longer than the quiet time, while the node is down
        child = try await Self.start(node)
        try await Task.sleep(for: .seconds(3)) // and again after the restart
        let store = try Self.store(node)
        #expect(try store.jobs().isEmpty, "the fragment was processed after the restart")
        #expect(
            try store.series(written.seriesInstanceUID)?.interruption
                == "the node stopped while an association was sending it")

        try await Self.resendAndStop(node, written, child, store)
        #expect(try store.jobs().count == 1)
        #expect(try store.series(written.seriesInstanceUID)?.instanceCount == 256)
    }

    /// Never completed: processed after the route's grace, the job carrying the caveat its SR
    /// will state, and `mambanode status` flagging the series.
    @Test func anInterruptedSeriesIsProcessedAfterTheGraceWithACaveat() async throws {
        let node = try Self.makeNode(quietTime: "1s")
        try Self.withGrace(node, "4s")
        let written = try Self.generateSeries(slices: 40, in: node.directory.file("input"))
        let child = try await Self.start(node)
        let sender = try Self.pacedPush(node, files: written.files)
        #expect(await waitUntil { Self.storedFiles(node) >= 5 })
        await sender.kill()
        let store = try Self.store(node)
        try await Task.sleep(for: .seconds(2))
        #expect(try store.jobs().isEmpty, "processed before the grace")
        #expect(await waitUntil { (try? store.jobs().count) == 1 })
        child.signal(SIGTERM)
        #expect(await child.wait() == 0)
        let job = try #require(try store.jobs().first)
        let count = try #require(try store.series(written.seriesInstanceUID)?.instanceCount)
        #expect(
            job.caveats.count == 1 && job.caveats[0].contains("may be incomplete: \(count) instances received"),
            "\(job.caveats)")
        let status = try await runTool(BuiltProducts.mambanode, ["status", "--config", node.configPath])
        #expect(status.output.contains("[may be incomplete: "), "\(status.output)")
    }
}
