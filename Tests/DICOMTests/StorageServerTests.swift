import DICOM
import DICOMNetwork
import Foundation
import TestSupport
import Testing

/// The storage SCP against DCMTK's command-line SCUs on loopback.
@Suite struct StorageServerTests {
    @Test func answersEchoscuAndStorageClientEcho() async throws {
        let dir = TemporaryDirectory("echo")
        let server = try await RunningStorageServer(store: try dir.subdirectory("store"))
        let echo = try await runTool(
            "echoscu", ["-aet", "STORESCU", "-aec", "MAMBANODE", "127.0.0.1", "\(server.port)"])
        #expect(echo.status == 0, "\(echo.errorOutput)")
        let client = StorageClient(configuration: .init(callingAETitle: try AETitle("STORESCU")))
        try await client.echo(Destination(aeTitle: RunningStorageServer.aeTitle, host: "127.0.0.1", port: server.port))
        let events = try await server.stop()
        #expect(events.filter { if case .echo = $0 { true } else { false } }.count == 2)
    }

    @Test func storesCompressedTransferSyntaxesByteIdentical() async throws {
        let dir = TemporaryDirectory("compressed")
        let sources = try dir.subdirectory("sources")
        let slices = try SyntheticInstances.ctSeries(
            count: SyntheticInstances.CompressedSyntax.allCases.count + 1,
            in: sources)
        let server = try await RunningStorageServer(store: try dir.subdirectory("store"))
        let storescu = ["-R", "-aet", "STORESCU", "-aec", "MAMBANODE", "127.0.0.1", "\(server.port)"]
        // One association per syntax: storescu proposes a compressed syntax only when told (-x…).
        var files: [SyntheticInstance] = []
        for (syntax, slice) in zip(SyntheticInstances.CompressedSyntax.allCases, slices.dropFirst()) {
            let file = try SyntheticInstances.compressed(slice, as: syntax, to: sources + "/\(syntax.rawValue).dcm")
            let send = try await runTool("storescu", [syntax.storescuOption] + storescu + [file.path])
            #expect(send.status == 0 && !send.errorOutput.contains("E:"), "\(syntax): \(send.errorOutput)")
            files.append(file)
        }
        let uncompressed = [slices[0], try SyntheticInstances.segmentationLike(in: sources)]
        let send = try await runTool("storescu", storescu + uncompressed.map(\.path))
        #expect(send.status == 0 && !send.errorOutput.contains("E:"), "\(send.errorOutput)")
        files += uncompressed
        try await server.stop()
        try expectStoredIdentically(files, in: server)
        let syntaxes = Set(server.storedInstances.map(\.transferSyntaxUID))
        for syntax in SyntheticInstances.CompressedSyntax.allCases {
            #expect(syntaxes.contains(syntax.transferSyntaxUID), "not received as \(syntax)")
        }
    }

    @Test func storesFourParallelAssociationsOfHundredInstances() async throws {
        let dir = TemporaryDirectory("parallel")
        let server = try await RunningStorageServer(store: try dir.subdirectory("store"))
        var batches: [[SyntheticInstance]] = []
        for batch in 0..<4 {
            batches.append(try SyntheticInstances.ctSeries(count: 100, in: try dir.subdirectory("b\(batch)")))
        }
        let senders = try batches.map { batch in
            try ChildProcess(
                "storescu",
                ["-aet", "STORESCU", "-aec", "MAMBANODE", "127.0.0.1", "\(server.port)"]
                    + batch.map(\.path), logDirectory: dir.path)
        }
        for sender in senders { #expect(await sender.wait() == 0, "\(sender.standardError)") }
        let events = try await server.stop()
        let all = batches.flatMap { $0 }
        try expectStoredIdentically(all, in: server)
        let associations = Set(server.storedInstances.map(\.association.id))
        #expect(associations.count == 4)
        #expect(events.filter { if case .associationReleased = $0 { true } else { false } }.count == 4)
    }

    @Test func storesDuplicateOnceAndAnswersSuccess() async throws {
        let dir = TemporaryDirectory("duplicate")
        let file = try SyntheticInstances.ctSeries(count: 1, in: try dir.subdirectory("sources"))[0]
        let server = try await RunningStorageServer(store: try dir.subdirectory("store"))
        for _ in 0..<2 {
            let send = try await runTool(
                "storescu", ["-aet", "STORESCU", "-aec", "MAMBANODE", "127.0.0.1", "\(server.port)", file.path])
            #expect(send.status == 0, "\(send.errorOutput)")
        }
        try await server.stop()
        #expect(server.storedInstances.map(\.isDuplicate) == [false, true])
        let stored = try FileManager.default.contentsOfDirectory(atPath: server.server.store.directory)
        #expect(stored.filter { $0.hasSuffix(".dcm") } == [file.sopInstanceUID + ".dcm"])
    }

    /// Every `instances` file is in the store under its SOP Instance UID with the same data set bytes.
    private func expectStoredIdentically(_ instances: [SyntheticInstance], in server: RunningStorageServer) throws {
        let store = server.server.store
        #expect(Set(server.storedInstances.map(\.sopInstanceUID)) == Set(instances.map(\.sopInstanceUID)))
        for instance in instances {
            let stored = store.path(for: instance.sopInstanceUID)
            #expect(FileManager.default.fileExists(atPath: stored), "\(instance.path) not stored")
            guard FileManager.default.fileExists(atPath: stored) else { continue }
            #expect(
                try SyntheticInstances.datasetBytes(of: stored) == SyntheticInstances.datasetBytes(of: instance.path),
                "\(instance.path) stored differently")
        }
    }
}
