import DICOM
import Foundation
import TestSupport
import Testing

@testable import Node

#if canImport(Glibc)
    import Glibc
#endif

/// Objects no route handles against the real `mambanode serve` (docs/node-behaviour.md, Rules):
/// stored, and final within the unrouted quiet time, with the reason each route refused them.
extension NodeServeTests {
    /// Minimal datasets of three non-image storage SOP classes (PS3.4 Annex B), written with
    /// DCMTK's dump2dcm: what the node must store and report, whatever their content.
    static let nonImageObjects: [(name: String, sopClass: String, modality: String, extra: String)] = [
        ("RT Plan", "1.2.840.10008.5.1.4.1.1.481.5", "RTPLAN", "(300a,0002) SH [PLAN1]\n(300a,000c) CS [PATIENT]"),
        (
            "Encapsulated PDF", "1.2.840.10008.5.1.4.1.1.104.1", "DOC",
            "(0042,0012) LO [application/pdf]\n(0042,0011) OB 25\\50\\44\\46\\2d\\31\\2e\\34\\0a\\25\\25\\45\\4f\\46\\0a\\00"
        ),
        (
            "Basic Text SR", "1.2.840.10008.5.1.4.1.1.88.11", "SR",
            "(0040,a040) CS [CONTAINER]\n(0040,a050) CS [SEPARATE]"
        )
    ]

    static func writeNonImageObjects(
        in directory: String
    ) async throws -> [(name: String, series: String, file: String)] {
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        let root = "1.2.826.0.1.3680043.10.543.77"
        var written: [(name: String, series: String, file: String)] = []
        for (index, object) in nonImageObjects.enumerated() {
            let series = "\(root).\(index + 1).2"
            let dump = """
                (0008,0016) UI [\(object.sopClass)]
                (0008,0018) UI [\(root).\(index + 1).3]
                (0008,0060) CS [\(object.modality)]
                (0010,0010) PN [Test^NonImage]
                (0010,0020) LO [PID-NONIMAGE]
                (0020,000d) UI [\(root).1]
                (0020,000e) UI [\(series)]
                \(object.extra)
                """
            let source = directory + "/object\(index).dump", file = directory + "/object\(index).dcm"
            try dump.write(toFile: source, atomically: true, encoding: .utf8)
            let made = try await runTool("dump2dcm", [source, file])
            #expect(made.status == 0, "dump2dcm \(object.name): \(made.errorOutput)")
            written.append((object.name, series, file))
        }
        return written
    }

    /// RT Plan, Encapsulated PDF and Basic Text SR pushed to a node whose only route takes CT:
    /// each is stored, reaches `unrouted` once the unrouted quiet time passes — not the route
    /// default of 45 s — with the route's failed condition as the reason, and the node keeps serving.
    @Test func nonImageObjectsReachNotRoutedWithTheirReasons() async throws {
        let node = try Self.makeNode(quietTime: "1s")
        let yaml = try String(contentsOfFile: node.configPath, encoding: .utf8)
        try ("unrouted_quiet_time: 2s\n" + yaml).write(toFile: node.configPath, atomically: true, encoding: .utf8)
        let objects = try await Self.writeNonImageObjects(in: node.directory.file("input"))
        let child = try await Self.start(node)
        let push = try await runTool(
            "storescu",
            ["-aet", "CT01", "-aec", "MAMBANODE", "127.0.0.1", "\(node.port)"]
                + objects.map(\.file))
        #expect(push.status == 0, "\(push.errorOutput)")
        let store = try Self.store(node)
        // 20 s is well inside the default of 45 s: the configured unrouted quiet time applied.
        let final = await waitUntil(seconds: 20) {
            objects.allSatisfy { (try? store.series($0.series))??.state == .unrouted }
        }
        #expect(
            final,
            "states: \(objects.map { "\($0.name): \(String(describing: (try? store.series($0.series))??.state))" })")
        for object in objects {
            let series = try #require(try store.series(object.series), "\(object.name) not stored")
            #expect(series.instanceCount == 1)
            #expect(
                series.reason?.contains("ct") == true && series.reason?.contains("Modality") == true,
                "\(object.name): \(series.reason ?? "no reason")")
        }
        #expect(Self.storedFiles(node) == objects.count)
        let echo = try await runTool("echoscu", ["-aet", "CT01", "-aec", "MAMBANODE", "127.0.0.1", "\(node.port)"])
        #expect(echo.status == 0, "the node stopped answering: \(echo.errorOutput)")
        let status = try await runTool(BuiltProducts.mambanode, ["status", "--config", node.configPath])
        #expect(status.output.contains("unrouted"), "\(status.output)")
        child.signal(SIGTERM)
        #expect(await child.wait() == 0, "\(child.standardError.suffix(2000))")
    }
}
