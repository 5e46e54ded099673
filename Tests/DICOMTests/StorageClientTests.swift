import DICOM
import DICOMNetwork
import Foundation
import TestSupport
import Testing

/// The storage SCU and `mambanode send` against DCMTK's storescp.
@Suite struct StorageClientTests {
    /// A folder with an uncompressed CT slice, a SEG-like object and compressed slices.
    struct Folder {
        var path: String
        var uncompressed: [SyntheticInstance]
        var compressed: [SyntheticInstances.CompressedSyntax: SyntheticInstance]
        var all: [SyntheticInstance] { uncompressed + compressed.values.sorted { $0.path < $1.path } }
    }

    static func makeFolder(in dir: TemporaryDirectory, syntaxes: [SyntheticInstances.CompressedSyntax]) throws -> Folder
    {
        let path = try dir.subdirectory("send")
        let work = try dir.subdirectory("work")
        let slices = try SyntheticInstances.ctSeries(count: syntaxes.count + 1, in: work)
        try FileManager.default.copyItem(atPath: slices[0].path, toPath: path + "/ct.dcm")
        var compressed: [SyntheticInstances.CompressedSyntax: SyntheticInstance] = [:]
        for (syntax, slice) in zip(syntaxes, slices.dropFirst()) {
            compressed[syntax] = try SyntheticInstances.compressed(
                slice, as: syntax,
                to: try dir.subdirectory("send/nested") + "/\(syntax.rawValue).dcm")
        }
        let ct = SyntheticInstance(path: path + "/ct.dcm", sopInstanceUID: slices[0].sopInstanceUID)
        return Folder(
            path: path, uncompressed: [ct, try SyntheticInstances.segmentationLike(in: path)], compressed: compressed)
    }

    /// storescp on a free port writing into `directory`; `acceptAll` adds +xa (every syntax it knows).
    static func startStorescp(
        in dir: TemporaryDirectory, acceptAll: Bool
    ) async throws -> (ChildProcess, UInt16, String) {
        let port = FreePort.allocate()
        let out = try dir.subdirectory("received")
        let child = try ChildProcess(
            "storescp", (acceptAll ? ["+xa"] : []) + ["-od", out, "\(port)"], logDirectory: dir.path)
        guard await waitUntil({ FreePort.isListening(port) }) else { throw ToolError("storescp did not start") }
        return (child, port, out)
    }

    /// The file storescp wrote for `uid` (it names files `<modality>.<SOP Instance UID>`).
    static func received(_ uid: String, in directory: String) -> String? {
        let names = (try? FileManager.default.contentsOfDirectory(atPath: directory)) ?? []
        return names.first { $0.hasSuffix("." + uid) }.map { directory + "/" + $0 }
    }

    static let client = StorageClient(configuration: .init(callingAETitle: try! AETitle("MAMBANODE")))

    @Test func sendsFolderToStorescpAcceptingAllSyntaxesUnchanged() async throws {
        let dir = TemporaryDirectory("send-all")
        let folder = try Self.makeFolder(
            in: dir,
            syntaxes: [
                .jpegLSLossless, .rle, .jpegLosslessSV1, .jpegBaseline,
                .jpeg2000Lossless
            ])
        let (storescp, port, out) = try await Self.startStorescp(in: dir, acceptAll: true)
        let files = folder.all.map(\.path)
        let outcomes = await Self.client.send(
            files, to: Destination(aeTitle: try AETitle("STORESCP"), host: "127.0.0.1", port: port))
        await storescp.kill()
        #expect(outcomes.map(\.path) == files)
        for outcome in outcomes { #expect(outcome.isStored, "\(outcome.path): \(String(describing: outcome.error))") }
        for instance in folder.all {
            let received = try #require(
                Self.received(instance.sopInstanceUID, in: out), "\(instance.path) not received")
            #expect(
                try SyntheticInstances.datasetBytes(of: received) == SyntheticInstances.datasetBytes(of: instance.path))
        }
    }

    @Test func decompressesForStorescpAcceptingOnlyUncompressed() async throws {
        let dir = TemporaryDirectory("send-uncompressed")
        let lossless: [SyntheticInstances.CompressedSyntax] = [.jpegLSLossless, .rle, .jpegLosslessSV1]
        let folder = try Self.makeFolder(in: dir, syntaxes: lossless + [.jpegBaseline])
        let (storescp, port, out) = try await Self.startStorescp(in: dir, acceptAll: false)
        let destination = Destination(aeTitle: try AETitle("STORESCP"), host: "127.0.0.1", port: port)
        let outcomes = await Self.client.send(folder.all.map(\.path), to: destination)
        var lossyAllowed = Self.client
        lossyAllowed.configuration.decompression = .all
        let baseline = try #require(folder.compressed[.jpegBaseline])
        let lossyOutcome = await lossyAllowed.send([baseline.path], to: destination)
        await storescp.kill()

        let byPath = Dictionary(uniqueKeysWithValues: outcomes.map { ($0.path, $0) })
        for instance in folder.uncompressed + lossless.compactMap({ folder.compressed[$0] }) {
            let outcome = try #require(byPath[instance.path])
            #expect(outcome.isStored, "\(instance.path): \(String(describing: outcome.error))")
            #expect(
                outcome.transferSyntaxUID == "1.2.840.10008.1.2.1" || outcome.transferSyntaxUID == "1.2.840.10008.1.2")
            let received = try #require(Self.received(instance.sopInstanceUID, in: out))
            let dump = try await runTool("dcmdump", ["-s", "+P", "0002,0010", received])
            #expect(dump.output.contains("LittleEndian"), "\(dump.output)")
        }
        // Lossy JPEG is not decompressed unless allowed.
        let refused = try #require(byPath[baseline.path])
        #expect(!refused.isStored && refused.error?.code == .notAccepted)
        #expect(refused.error?.description.contains(baseline.path) == true)
        #expect(lossyOutcome.first?.isStored == true)
    }

    @Test func reportsPeerFailureStatusPerInstance() async throws {
        let dir = TemporaryDirectory("send-failure")
        let slices = try SyntheticInstances.ctSeries(count: 3, in: try dir.subdirectory("s"))
        let refusedUID = slices[1].sopInstanceUID
        let server = try await RunningStorageServer(
            store: try dir.subdirectory("store"),
            configure: {
                $0.callingAETitles = .acceptAny
            }
        ) { instance in
            if instance.sopInstanceUID == refusedUID { throw DICOMError(.io, "disk full (simulated)") }
        }
        let destination = Destination(aeTitle: RunningStorageServer.aeTitle, host: "127.0.0.1", port: server.port)
        let outcomes = await Self.client.send(slices.map(\.path), to: destination)
        try await server.stop()
        #expect(outcomes.map(\.isStored) == [true, false, true])
        #expect(outcomes[1].status == .outOfResources)
        #expect(outcomes[1].error?.description.contains(refusedUID) == true)
    }

    @Test func reportsRejectedAssociationForEveryFile() async throws {
        let dir = TemporaryDirectory("send-rejected")
        let slices = try SyntheticInstances.ctSeries(count: 2, in: try dir.subdirectory("s"))
        let server = try await RunningStorageServer(store: try dir.subdirectory("store"))
        let destination = Destination(aeTitle: try AETitle("WRONG"), host: "127.0.0.1", port: server.port)
        let outcomes = await Self.client.send(slices.map(\.path), to: destination)
        try await server.stop()
        for outcome in outcomes {
            #expect(!outcome.isStored)
            #expect(outcome.error?.code == .refused, "\(String(describing: outcome.error))")
            #expect(outcome.error?.description.contains("WRONG@127.0.0.1") == true)
        }
    }

    @Test func sendCommandExitsNonZeroNamingRefusedInstance() async throws {
        let dir = TemporaryDirectory("send-cli")
        let folder = try Self.makeFolder(in: dir, syntaxes: [.jpegLSLossless, .jpeg2000Lossless])
        try Data("not dicom".utf8).write(to: URL(fileURLWithPath: folder.path + "/README.txt"))
        let (storescp, port, _) = try await Self.startStorescp(in: dir, acceptAll: false)
        // DCMTK cannot decompress JPEG 2000, so storescp (uncompressed only) cannot receive it.
        let result = try await runTool(
            BuiltProducts.mambanode, ["send", "--to", "STORESCP@127.0.0.1:\(port)", folder.path])
        await storescp.kill()
        let j2k = try #require(folder.compressed[.jpeg2000Lossless])
        #expect(result.status == 1)
        #expect(
            result.errorOutput.contains("failed: \(j2k.path) instance \(j2k.sopInstanceUID)"), "\(result.errorOutput)")
        #expect(result.errorOutput.contains("skipped (not DICOM)"))
        #expect(result.output.contains("sent 3 of 4 instances"), "\(result.output)")
    }
}
