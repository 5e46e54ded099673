import DICOM
import DICOMNetwork
import Foundation
import TestSupport
import Testing

#if canImport(Glibc)
    import Glibc
#endif

/// Peers the storage SCP must turn away without stopping to serve the others.
@Suite struct StorageServerRejectionTests {
    @Test func rejectsUnknownCallingAndWrongCalledAETitleAndKeepsServing() async throws {
        let dir = TemporaryDirectory("reject")
        let server = try await RunningStorageServer(store: try dir.subdirectory("store"))
        let port = "\(server.port)"
        let unknownCaller = try await runTool("echoscu", ["-aet", "INTRUDER", "-aec", "MAMBANODE", "127.0.0.1", port])
        #expect(unknownCaller.status != 0)
        let wrongCalled = try await runTool("echoscu", ["-aet", "STORESCU", "-aec", "OTHERNODE", "127.0.0.1", port])
        #expect(wrongCalled.status != 0)
        let allowed = try await runTool("echoscu", ["-aet", "STORESCU", "-aec", "MAMBANODE", "127.0.0.1", port])
        #expect(allowed.status == 0, "\(allowed.errorOutput)")
        try await server.stop()
        #expect(server.rejections.contains("calling AE title not allowed"))
        #expect(server.rejections.contains("called AE title not recognized"))
    }

    @Test func emptyAllowListRejectsEveryone() async throws {
        let dir = TemporaryDirectory("reject-all")
        let server = try await RunningStorageServer(store: try dir.subdirectory("store")) {
            $0.callingAETitles = .allowList([])
        }
        let echo = try await runTool(
            "echoscu", ["-aet", "STORESCU", "-aec", "MAMBANODE", "127.0.0.1", "\(server.port)"])
        #expect(echo.status != 0)
        try await server.stop()
        #expect(server.rejections == ["calling AE title not allowed"])
    }

    @Test func survivesGarbageAndTruncatedFileSentOverRawTCP() async throws {
        let dir = TemporaryDirectory("garbage")
        let file = try SyntheticInstances.ctSeries(count: 1, in: try dir.subdirectory("sources"))[0]
        let server = try await RunningStorageServer(store: try dir.subdirectory("store"))
        var garbage = [UInt8](repeating: 0, count: 4096)
        for i in garbage.indices { garbage[i] = UInt8.random(in: 0...255) }
        // An A-ASSOCIATE-RQ PDU type byte followed by a huge length, then nothing.
        let lyingHeader: [UInt8] = [0x01, 0x00, 0x7F, 0xFF, 0xFF, 0xFF, 0x00, 0x01]
        let fileBytes = [UInt8](try Data(contentsOf: URL(fileURLWithPath: file.path)))
        for payload in [garbage, lyingHeader, Array(fileBytes.prefix(fileBytes.count / 2))] {
            try sendRaw(payload, to: server.port)
        }
        let send = try await runTool(
            "storescu",
            [
                "-aet", "STORESCU", "-aec", "MAMBANODE", "127.0.0.1",
                "\(server.port)", file.path
            ])
        #expect(send.status == 0, "\(send.errorOutput)")
        try await server.stop()
        #expect(server.storedInstances.map(\.sopInstanceUID) == [file.sopInstanceUID])
    }

    @Test func survivesSenderKilledMidInstance() async throws {
        let dir = TemporaryDirectory("killed-sender")
        let files = try SyntheticInstances.ctSeries(count: 40, rows: 512, columns: 512, in: try dir.subdirectory("s"))
        let server = try await RunningStorageServer(store: try dir.subdirectory("store"))
        let sender = try ChildProcess(
            "storescu",
            [
                "-aet", "STORESCU", "-aec", "MAMBANODE", "127.0.0.1",
                "\(server.port)"
            ] + files.map(\.path), logDirectory: dir.path)
        _ = await waitUntil { !server.storedInstances.isEmpty }
        sender.signal(SIGKILL)
        _ = await sender.wait()
        let after = try SyntheticInstances.ctSeries(count: 1, in: try dir.subdirectory("after"))[0]
        let send = try await runTool(
            "storescu",
            [
                "-aet", "STORESCU", "-aec", "MAMBANODE", "127.0.0.1",
                "\(server.port)", after.path
            ])
        #expect(send.status == 0, "\(send.errorOutput)")
        try await server.stop()
        #expect(server.storedInstances.contains { $0.sopInstanceUID == after.sopInstanceUID })
        // Whatever was cut off mid-transfer left nothing behind, neither in the store nor in .incoming.
        let store = server.server.store
        let names = try FileManager.default.contentsOfDirectory(atPath: store.directory).filter { $0.hasSuffix(".dcm") }
        #expect(Set(names) == Set(server.storedInstances.map { $0.sopInstanceUID + ".dcm" }))
        #expect(try FileManager.default.contentsOfDirectory(atPath: store.incomingDirectory).isEmpty)
    }

    @Test func refusesInvalidSOPInstanceUIDWithCannotUnderstand() async throws {
        let dir = TemporaryDirectory("bad-uid")
        let dump = dir.path + "/bad.txt", path = dir.path + "/bad.dcm"
        try """
        (0002,0010) UI =LittleEndianExplicit
        (0008,0016) UI =SecondaryCaptureImageStorage
        (0008,0018) UI [1.2.03.4]
        (0008,0060) CS [OT]
        """.write(toFile: dump, atomically: true, encoding: .utf8)
        try runToolChecked("dump2dcm", [dump, path])
        let server = try await RunningStorageServer(store: try dir.subdirectory("store"))
        _ = try await runTool(
            "storescu", ["-aet", "STORESCU", "-aec", "MAMBANODE", "127.0.0.1", "\(server.port)", path])
        let events = try await server.stop()
        let refusals = events.compactMap { event -> (DIMSEStatus, DICOMError)? in
            if case .instanceRefused(_, let status, let error) = event { return (status, error) } else { return nil }
        }
        #expect(refusals.map(\.0) == [.cannotUnderstand])
        let error = try #require(refusals.first?.1)
        #expect(error.description.contains("1.2.03.4") && error.description.contains("leading zero"))
        #expect(error.peer?.contains("STORESCU@127.0.0.1") == true)
        #expect(server.storedInstances.isEmpty)
    }

    /// Connects to 127.0.0.1:`port`, writes `bytes`, and closes.
    private func sendRaw(_ bytes: [UInt8], to port: UInt16) throws {
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        defer { close(fd) }
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_port = port.bigEndian
        address.sin_addr.s_addr = inet_addr("127.0.0.1")
        let connected = withUnsafePointer(to: &address) { pointer in
            pointer.withMemoryRebound(to: sockaddr.self, capacity: 1) {
                connect(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) == 0
            }
        }
        guard connected else { throw ToolError("cannot connect to \(port)") }
        _ = bytes.withUnsafeBytes { send(fd, $0.baseAddress, $0.count, Int32(MSG_NOSIGNAL)) }
    }
}
