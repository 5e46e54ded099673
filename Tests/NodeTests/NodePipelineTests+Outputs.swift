import DICOM
import Foundation
import TestSupport
import Testing

@testable import Node

#if canImport(Glibc)
    import Glibc
#endif

extension NodePipelineTests {
    /// Outputs per destination (docs/results.md): a PACS taking all six kinds receives them all,
    /// dciodvfy clean; a radiotherapy system (a storescp accepting only RT Structure Sets) configured
    /// with `[rtstruct]` receives the structure set and nothing else is queued for it; the same
    /// system configured with `[seg, rtstruct]` receives the structure set while the SEG it does
    /// not accept is parked at once with the reason, never retried.
    @Test func eachDestinationReceivesTheOutputsItNames() async throws {
        let rtPort = FreePort.allocate()
        let s = try Self.setup(
            model: Self.untrainedModel, giveUp: "1h",
            extra: """
                destinations:
                  - { name: pacs, ae_title: PACS, host: 127.0.0.1, port: PACSPORT, outputs: [seg, sr, rtstruct, gsps, sc, ko] }
                  - { name: planning, ae_title: RTPLAN, host: 127.0.0.1, port: \(rtPort), outputs: [rtstruct] }
                  - { name: planning-seg, ae_title: RTPLAN, host: 127.0.0.1, port: \(rtPort), outputs: [seg, rtstruct] }
                """)
        // The route sends to all three; the YAML's later `destinations` replaces the first.
        var yaml = try String(contentsOfFile: s.config, encoding: .utf8)
        yaml = yaml.replacingOccurrences(
            of: "destinations: [{ name: pacs, ae_title: PACS, host: 127.0.0.1, port: \(s.pacsPort) }]\n", with: "")
        yaml = yaml.replacingOccurrences(of: "PACSPORT", with: "\(s.pacsPort)")
        yaml = yaml.replacingOccurrences(
            of: "destinations: [pacs]", with: "destinations: [pacs, planning, planning-seg]")
        try yaml.write(toFile: s.config, atomically: true, encoding: .utf8)

        // storescp's association profile (DCMTK storescp.cfg format): RT Structure Set only.
        let profile = s.directory.file("rt-only.cfg")
        try """
        [[TransferSyntaxes]]
        [Uncompressed]
        TransferSyntax1 = LittleEndianExplicit
        TransferSyntax2 = LittleEndianImplicit

        [[PresentationContexts]]
        [RTOnly]
        PresentationContext1 = RTStructureSetStorage\\Uncompressed

        [[Profiles]]
        [RT]
        PresentationContexts = RTOnly
        """.write(toFile: profile, atomically: true, encoding: .utf8)
        let planningFolder = try s.directory.subdirectory("planning")
        let planning = try ChildProcess(
            "storescp", ["--aetitle", "RTPLAN", "-xf", profile, "RT", "-od", planningFolder, "\(rtPort)"],
            logDirectory: s.directory.path)
        #expect(await waitUntil { FreePort.isListening(rtPort) })
        let pacs = try await Self.startPACS(s)
        let node = try await Self.startNode(s)
        _ = try await Self.push(s)

        func settled() -> Bool {
            let entries = (try? s.store.outbox()) ?? []
            return !entries.isEmpty && entries.allSatisfy { $0.state == .sent || $0.state == .parked }
        }
        #expect(await waitUntil(seconds: 180) { settled() }, "the outbox never settled: \(node.standardError)")
        node.signal(SIGTERM)
        #expect(await node.wait() == 0)
        await pacs.stop()
        _ = await planning.stop()

        let entries = try s.store.outbox()
        var modalities: [String: Int] = [:]
        for file in Self.received(s) {
            let ds = try DataSet.read(contentsOf: file, headerOnly: true)
            modalities[try ds.requiredString(.modality), default: 0] += 1
            let check = try await runTool("dciodvfy", [file])
            #expect(!(check.output + check.errorOutput).contains("Error"), "\(file): \(check.errorOutput)")
        }
        #expect(Set(modalities.keys) == ["SEG", "SR", "RTSTRUCT", "PR", "OT", "KO"], "\(modalities)")
        #expect(entries.filter { $0.destination == "pacs" }.allSatisfy { $0.state == .sent })

        let onlyRT = entries.filter { $0.destination == "planning" }
        #expect(onlyRT.count == 1 && onlyRT[0].state == .sent, "\(onlyRT)")
        let received = try FileManager.default.contentsOfDirectory(atPath: planningFolder)
        // Both planning destinations received the same structure set (one SOP Instance, one file).
        #expect(received.count == 1 && received[0].hasPrefix("RS."), "\(received)")

        let withSEG = entries.filter { $0.destination == "planning-seg" }
        #expect(withSEG.count == 2)
        let parked = withSEG.filter { $0.state == .parked }
        #expect(parked.count == 1 && parked[0].attempts <= 1, "parked at the first refusal: \(withSEG)")
        #expect(parked.first?.lastError?.hasPrefix("SOP class not accepted by planning-seg") == true, "\(parked)")
        #expect(withSEG.filter { $0.state == .sent }.count == 1)
    }
}
