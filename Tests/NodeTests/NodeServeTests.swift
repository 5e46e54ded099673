import DICOM
import Foundation
import SampleGenerator
import TestSupport
import Testing

@testable import Node

#if canImport(Glibc)
    import Glibc
#endif

/// `mambanode serve` as a child process, pushed to by DCMTK's storescu (tests that run the real
/// binary on loopback, as docs/style-guide.md §8 asks).
@Suite struct NodeServeTests {
    struct Node {
        let directory: TemporaryDirectory
        let configPath: String
        let port: UInt16
        let databasePath: String
        let instances: String
    }

    static func makeNode(quietTime: String = "1s") throws -> Node {
        let dir = TemporaryDirectory("serve")
        let port = FreePort.allocate()
        let yaml = """
            node: { ae_title: MAMBANODE, port: \(port), allowed_calling_aes: [CT01] }
            storage: { directory: \(dir.path)/store, database: \(dir.path)/node.sqlite, min_free_disk_mb: 1 }
            http: { port: 0 }
            logging: { format: json, level: debug }
            destinations: [{ name: pacs, ae_title: PACS, host: 127.0.0.1, port: \(FreePort.allocate()) }]
            models: { organs: \(dir.path)/model }
            routes:
              - { name: ct, model: organs, destinations: [pacs], match: [{ tag: Modality, equals: CT }], quiet_time: \(quietTime) }
            """
        try yaml.write(toFile: dir.file("node.yaml"), atomically: true, encoding: .utf8)
        return Node(
            directory: dir, configPath: dir.file("node.yaml"), port: port, databasePath: dir.file("node.sqlite"),
            instances: dir.path + "/store/instances")
    }

    static func start(_ node: Node) async throws -> ChildProcess {
        try await BuiltProducts.serve(
            config: node.configPath, logDirectory: node.directory.path, listening: [node.port])
    }

    static func store(_ node: Node) throws -> NodeStore {
        NodeStore(database: try NodeDatabase(path: node.databasePath), router: Router(routes: []))
    }

    static func generateSeries(slices: Int, size: Int = 32, in directory: String) throws -> SeriesGenerator.Written {
        var generator = SeriesGenerator()
        generator.rows = size
        generator.columns = size
        generator.slices = slices
        generator.patientName = "Doe^Jane^Secret"
        generator.patientID = "PID-73519"
        return try generator.write(to: directory)
    }

    @Test func seriesIsStoredTrackedAndQueuedWithoutPatientDataInTheLog() async throws {
        let node = try Self.makeNode()
        let written = try Self.generateSeries(slices: 12, in: node.directory.file("input"))
        let child = try await Self.start(node)
        let push = try await runTool(
            "storescu", ["-aet", "CT01", "-aec", "MAMBANODE", "127.0.0.1", "\(node.port)"] + written.files)
        #expect(push.status == 0, "\(push.errorOutput)")
        let store = try Self.store(node)
        #expect(await waitUntil { (try? store.jobs().count) == 1 }, "the series never became stable")
        child.signal(SIGTERM)
        #expect(await child.wait() == 0, "\(child.standardError)")

        let series = try #require(try store.series(written.seriesInstanceUID))
        // The series left `receiving` and got its job (what the job then does is the pipeline's
        // business: this node's model folder does not exist, so it fails with a reason).
        #expect(series.instanceCount == 12 && series.state != .receiving && series.route == "ct")
        #expect(try store.instances(ofSeries: written.seriesInstanceUID).count == 12)
        let log = child.standardError
        #expect(log.contains("series stable, job queued"))
        for phi in ["Doe", "Secret", "PID-73519", "19700101"] {
            #expect(!log.contains(phi), "the log contains patient data '\(phi)'")
        }
        // One JSON object per line.
        for line in log.split(separator: "\n") {
            #expect((try? JSONSerialization.jsonObject(with: Data(line.utf8))) != nil, "not JSON: \(line)")
        }
    }

    @Test func unknownCallingAEIsRejectedAndTheNodeKeepsServing() async throws {
        let node = try Self.makeNode()
        let written = try Self.generateSeries(slices: 2, in: node.directory.file("input"))
        let child = try await Self.start(node)
        let rejected = try await runTool(
            "storescu",
            ["-aet", "INTRUDER", "-aec", "MAMBANODE", "127.0.0.1", "\(node.port)"]
                + written.files)
        #expect(rejected.status != 0)
        let accepted = try await runTool(
            "storescu",
            ["-aet", "CT01", "-aec", "MAMBANODE", "127.0.0.1", "\(node.port)"]
                + written.files)
        #expect(accepted.status == 0, "\(accepted.errorOutput)")
        child.signal(SIGTERM)
        #expect(await child.wait() == 0)
        #expect(child.standardError.contains("association rejected"))
    }

    /// Killed mid-receive and restarted: every acknowledged instance is kept, the modality's
    /// retry of the whole series is de-duplicated, and the series is processed exactly once.
    @Test func sigkillMidReceiveKeepsAcknowledgedInstancesAndProcessesOnce() async throws {
        let node = try Self.makeNode(quietTime: "2s")
        // Large enough that the kill lands mid-transfer even on a fast disk.
        let written = try Self.generateSeries(slices: 200, size: 128, in: node.directory.file("input"))
        var child = try await Self.start(node)
        let sender = try ChildProcess(
            "storescu",
            ["-v", "-aet", "CT01", "-aec", "MAMBANODE", "127.0.0.1", "\(node.port)"]
                + written.files, logDirectory: node.directory.path)
        _ = await waitUntil {
            ((try? FileManager.default.contentsOfDirectory(atPath: node.instances)) ?? []).filter {
                $0.hasSuffix(".dcm")
            }.count >= 10
        }
        child.signal(SIGKILL)
        #expect(await child.wait() == 128 + SIGKILL)
        _ = await sender.wait()
        let acknowledged = sender.standardError.components(separatedBy: "Received Store Response (Success)").count - 1
        #expect(acknowledged > 0 && acknowledged < written.files.count, "the kill did not land mid-transfer")
        let store = try Self.store(node)
        let indexed = Set(try store.instances(ofSeries: written.seriesInstanceUID).map(\.sopInstanceUID))
        for file in written.files.prefix(acknowledged) {
            let uid = try DataSet.read(contentsOf: file, headerOnly: true).requiredString(.sopInstanceUID)
            #expect(indexed.contains(uid), "acknowledged \(uid) is not in the index")
            #expect(FileManager.default.fileExists(atPath: node.instances + "/" + uid + ".dcm"))
        }

        // The modality retries the whole series after the outage.
        child = try await Self.start(node)
        let retry = try await runTool(
            "storescu", ["-aet", "CT01", "-aec", "MAMBANODE", "127.0.0.1", "\(node.port)"] + written.files)
        #expect(retry.status == 0, "\(retry.errorOutput)")
        #expect(await waitUntil { (try? store.jobs().count) == 1 })
        try await Task.sleep(for: .seconds(3))
        child.signal(SIGTERM)
        #expect(await child.wait() == 0)
        #expect(try store.jobs().count == 1, "processed exactly once")
        #expect(try store.series(written.seriesInstanceUID)?.instanceCount == written.files.count)
    }
}
