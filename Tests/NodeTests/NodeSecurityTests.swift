import DICOM
import Foundation
import SampleGenerator
import TestSupport
import Testing

@testable import Node

#if canImport(FoundationNetworking)
    import FoundationNetworking
#endif

#if canImport(Glibc)
    import Glibc
#endif

/// `mambanode serve` with TLS, allow-lists, limits and the audit trail, pushed to by DCMTK's
/// storescu over plain TCP and TLS.
@Suite struct NodeSecurityTests {
    struct Node {
        let directory: TemporaryDirectory
        let configPath: String
        let port: UInt16
        let tlsPort: UInt16
        let httpPort: UInt16
        let pki: TestPKI
        var audit: String { directory.path + "/store/audit.jsonl" }
    }

    static func makeNode(minFreeDiskMB: Int = 1, extra: String = "") throws -> Node {
        let dir = TemporaryDirectory("secure-node")
        let pki = try TestPKI(in: try dir.subdirectory("pki"))
        let port = FreePort.allocate(), tlsPort = FreePort.allocate(), httpPort = FreePort.allocate()
        let yaml = """
            node:
              ae_title: MAMBANODE
              port: \(port)
              allowed_calling_aes: [CT01]
              allowed_sources: [127.0.0.0/8, "::1"]
              tls: { port: \(tlsPort), certificate: \(pki.certificate("server")), private_key: \(pki.key("server")),
                     ca_bundle: \(pki.certificate("ca")) }
            storage: { directory: \(dir.path)/store, database: \(dir.path)/node.sqlite, min_free_disk_mb: \(minFreeDiskMB) }
            http: { port: \(httpPort) }
            logging: { format: json, level: debug }
            destinations: [{ name: pacs, ae_title: PACS, host: 127.0.0.1, port: \(FreePort.allocate()) }]
            models: { organs: \(dir.path)/model }
            routes:
              - { name: ct, model: organs, destinations: [pacs], match: [{ tag: Modality, equals: CT }], quiet_time: 1s }
            \(extra)
            """
        try yaml.write(toFile: dir.file("node.yaml"), atomically: true, encoding: .utf8)
        return Node(
            directory: dir, configPath: dir.file("node.yaml"), port: port, tlsPort: tlsPort, httpPort: httpPort,
            pki: pki)
    }

    static func start(_ node: Node) async throws -> ChildProcess {
        try await BuiltProducts.serve(
            config: node.configPath, logDirectory: node.directory.path,
            listening: [node.port, node.tlsPort])
    }

    static func series(_ name: String, slices: Int, in node: Node) throws -> SeriesGenerator.Written {
        var generator = SeriesGenerator()
        generator.rows = 16
        generator.columns = 16
        generator.slices = slices
        generator.patientName = "Doe^Jane^Secret"
        generator.patientID = "PID-73519"
        return try generator.write(to: node.directory.file(name))
    }

    static func storescu(_ arguments: [String], port: UInt16, _ files: [String]) async throws -> ToolResult {
        try await runTool("storescu", arguments + ["-aec", "MAMBANODE", "localhost", "\(port)"] + files)
    }

    @Test func transfersRejectionsAndTLSFailuresAreAuditedAndTheLogHasNoPatientData() async throws {
        let node = try Self.makeNode(extra: "limits: { max_instances_per_association: 3 }")
        let plain = try Self.series("plain", slices: 2, in: node)
        let secure = try Self.series("secure", slices: 2, in: node)
        let tooMany = try Self.series("many", slices: 4, in: node)
        let child = try await Self.start(node)

        let sent = try await Self.storescu(["-aet", "CT01"], port: node.port, plain.files)
        #expect(sent.status == 0, "\(sent.errorOutput)")
        let sentTLS = try await Self.storescu(
            node.pki.dcmtkArguments("client") + ["-aet", "CT01"], port: node.tlsPort,
            secure.files)
        #expect(sentTLS.status == 0, "\(sentTLS.errorOutput)")
        let intruder = try await Self.storescu(["-aet", "INTRUDER"], port: node.port, plain.files)
        #expect(intruder.status != 0)
        let untrusted = try await Self.storescu(
            node.pki.dcmtkArguments("untrusted-client") + ["-aet", "CT01"],
            port: node.tlsPort, plain.files)
        #expect(untrusted.status != 0)
        _ = try await Self.storescu(["-aet", "CT01"], port: node.port, tooMany.files) // the fourth is refused
        child.signal(SIGTERM)
        #expect(await child.wait() == 0, "\(child.standardError)")

        let messages = try AuditTrailTests.messages(node.audit)
        let ids = messages.map { AuditTrailTests.eventID($0) ?? "?" }
        #expect(ids.first == "110100" && ids.last == "110100", "application start and stop")
        #expect(ids.filter { $0 == "110102" }.count == 3, "\(ids)")
        let transferred = messages.filter { AuditTrailTests.eventID($0) == "110104" }
        #expect(transferred.count == 3, "one per association that stored instances: \(ids)")
        #expect(transferred.allSatisfy { AuditTrailTests.event($0, "EventActionCode") == "C" })
        #expect(transferred.allSatisfy { AuditTrailTests.objectIDs($0).contains("PID-73519") })
        #expect(
            Set(transferred.compactMap { AuditTrailTests.objectIDs($0).first }) == [
                plain.studyInstanceUID, secure.studyInstanceUID, tooMany.studyInstanceUID
            ])
        #expect(
            transferred.map { AuditTrailTests.event($0, "EventOutcomeIndicator") ?? "?" }.sorted() == ["0", "0", "4"])
        let alerts = messages.filter { AuditTrailTests.eventID($0) == "110113" }
        #expect(alerts.count == 2, "the rejected AE and the untrusted certificate: \(ids)")
        let reasons = alerts.compactMap { AuditTrailTests.event($0, "EventOutcomeDescription") }
        #expect(reasons.contains { $0.contains("calling AE title not allowed") })
        #expect(reasons.contains { $0.contains("TLS handshake failed") })

        let log = child.standardError
        #expect(
            log.contains("TLS handshake failed") && log.contains("association rejected")
                && log.contains("instance refused"))
        for phi in ["Doe", "Jane", "Secret", "PID-73519"] {
            #expect(!log.contains(phi), "the log contains patient data '\(phi)'")
        }
    }

    @Test func freeDiskBelowTheThresholdRejectsAssociationsAndReadyFails() async throws {
        // A threshold far above any disk's free space.
        let node = try Self.makeNode(minFreeDiskMB: 1 << 40)
        let written = try Self.series("input", slices: 1, in: node)
        let child = try await Self.start(node)
        let refused = try await Self.storescu(["-aet", "CT01"], port: node.port, written.files)
        #expect(refused.status != 0)
        #expect(
            refused.errorOutput.contains("Rejected Transient") && refused.errorOutput.contains("Local Limit Exceeded"),
            "\(refused.errorOutput)")
        #expect(await waitUntil { FreePort.accepts(node.httpPort) })
        let (data, response) = try await URLSession.shared.data(
            from: URL(string: "http://127.0.0.1:\(node.httpPort)/ready")!)
        #expect((response as? HTTPURLResponse)?.statusCode == 503)
        #expect(String(decoding: data, as: UTF8.self).contains("below the threshold"))
        child.signal(SIGTERM)
        #expect(await child.wait() == 0, "\(child.standardError)")
        #expect(child.standardError.contains("below the threshold"))
        let ids = try AuditTrailTests.messages(node.audit).map { AuditTrailTests.eventID($0) ?? "?" }
        #expect(ids == ["110100", "110100"], "a full disk is not a security event")
    }
}
