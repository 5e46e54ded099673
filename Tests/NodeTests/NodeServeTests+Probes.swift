import Foundation
import TestSupport
import Testing

#if canImport(Glibc)
    import Glibc
#endif

/// Connections that never become associations (health checks, port scans, half-sent and silent
/// peers) against the real `mambanode serve`: DCMTK 3.6.7's own SCP pool wrote into a freed worker
/// when such a connection ended at once, and corrupted the node's heap within a few hundred of
/// them. The node must stay up, answer C-ECHO and store instances afterwards.
extension NodeServeTests {
    static func makeProbedNode(httpPort: UInt16) throws -> Node {
        let node = try makeNode()
        // A short ARTIM timer so that the silent connection is closed within the test, and the
        // HTTP API for /metrics.
        var yaml = try String(contentsOfFile: node.configPath, encoding: .utf8)
        yaml = yaml.replacingOccurrences(
            of: "allowed_calling_aes: [CT01] }",
            with: "allowed_calling_aes: [CT01], acse_timeout: 2s }")
        yaml = yaml.replacingOccurrences(of: "http: { port: 0 }", with: "http: { port: \(httpPort) }")
        try yaml.write(toFile: node.configPath, atomically: true, encoding: .utf8)
        return node
    }

    @Test(.timeLimit(.minutes(3)))
    func connectionsWithoutAnAssociationLeaveTheNodeServing() async throws {
        let httpPort = FreePort.allocate()
        let node = try Self.makeProbedNode(httpPort: httpPort)
        let written = try Self.generateSeries(slices: 3, in: node.directory.file("input"))
        let child = try await Self.start(node)
        // Three rounds of the reproduction: 200 bare connects (FIN and RST alternating), cut-off
        // A-ASSOCIATE-RQs, garbage; the last round also holds a connection without sending.
        let script = URL(fileURLWithPath: #filePath).deletingLastPathComponent()
            .deletingLastPathComponent().appendingPathComponent("Scripts/bare_connections.py").path
        for round in 1...3 {
            let probe = try await runTool(
                "python3", [script, "\(node.port)", "--bare", "200"] + (round == 3 ? ["--hold"] : []))
            #expect(probe.status == 0, "round \(round): \(probe.errorOutput)")
            #expect(child.isRunning, "the node died in round \(round): \(child.standardError.suffix(2000))")
            guard child.isRunning else { return }
            if round == 3 {
                // The silent connection is closed by the node's ARTIM timer (2 s), not by the probe.
                let report = try JSONSerialization.jsonObject(with: Data(probe.output.utf8)) as? [String: Any]
                let closedAfter = try #require(report?["hold_closed_after_s"] as? Double, "\(probe.output)")
                #expect(closedAfter >= 1 && closedAfter < 60, "silent connection closed after \(closedAfter) s")
            }
        }
        let echo = try await runTool("echoscu", ["-aet", "CT01", "-aec", "MAMBANODE", "127.0.0.1", "\(node.port)"])
        #expect(echo.status == 0, "C-ECHO after the probes: \(echo.errorOutput)")
        let push = try await runTool(
            "storescu", ["-aet", "CT01", "-aec", "MAMBANODE", "127.0.0.1", "\(node.port)"] + written.files)
        #expect(push.status == 0, "C-STORE after the probes: \(push.errorOutput)")
        #expect(await waitUntil { (try? Self.store(node).instances(ofSeries: written.seriesInstanceUID).count) == 3 })

        // Each probe is counted, not warned about: 3 × 200 bare connects and the cut-off requests.
        let metrics = try await runTool("curl", ["-s", "http://127.0.0.1:\(httpPort)/metrics"]).output
        let counted = metrics.split(separator: "\n").first {
            $0.hasPrefix("mambanode_connections_without_association_total ")
        }
        .flatMap { Double($0.split(separator: " ").last ?? "") }
        #expect((counted ?? 0) >= 600, "\(metrics)")

        child.signal(SIGTERM)
        #expect(await child.wait() == 0, "\(child.standardError.suffix(2000))")
        let log = child.standardError
        // Probes are reported as what they are, at debug level, never as refused associations.
        #expect(log.contains("connection without association"))
        #expect(!log.contains("application context"), "a probe was reported as an association request")
        #expect(!log.contains("\"association rejected\""), "a probe was reported as a rejected association")
    }
}
