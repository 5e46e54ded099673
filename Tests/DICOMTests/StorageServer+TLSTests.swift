import DICOM
import DICOMNetwork
import Foundation
import TestSupport
import Testing

/// DICOM TLS on the storage SCP: DCMTK's storescu and OpenSSL's s_client as
/// real peers on loopback, against the test PKI of `Scripts/make-test-ca`.
@Suite struct StorageServerTLSTests {
    static func start(_ dir: TemporaryDirectory, _ pki: TestPKI) async throws -> RunningStorageServer {
        try await RunningStorageServer(store: try dir.subdirectory("store")) { $0.tls = pki.serverTLS }
    }

    static func storescu(_ server: RunningStorageServer, _ tls: [String], _ file: String) async throws -> ToolResult {
        try await runTool(
            "storescu", tls + ["-aet", "STORESCU", "-aec", "MAMBANODE", "localhost", "\(server.port)", file])
    }

    static func tlsFailures(_ events: [StorageServerEvent]) -> [String] {
        events.compactMap { if case .tlsHandshakeFailed(_, let reason) = $0 { return reason } else { return nil } }
    }

    @Test func trustedClientCertificateStores() async throws {
        let dir = TemporaryDirectory("tls-trusted")
        let pki = try TestPKI(in: try dir.subdirectory("pki"))
        let file = try SyntheticInstances.ctSeries(count: 1, in: try dir.subdirectory("in"))[0]
        let server = try await Self.start(dir, pki)
        let send = try await Self.storescu(server, pki.dcmtkArguments("client"), file.path)
        #expect(send.status == 0, "\(send.errorOutput)")
        let events = try await server.stop()
        #expect(server.storedInstances.map(\.sopInstanceUID) == [file.sopInstanceUID])
        #expect(Self.tlsFailures(events).isEmpty)
    }

    @Test func untrustedClientCertificateIsRefused() async throws {
        let dir = TemporaryDirectory("tls-untrusted")
        let pki = try TestPKI(in: try dir.subdirectory("pki"))
        let file = try SyntheticInstances.ctSeries(count: 1, in: try dir.subdirectory("in"))[0]
        let server = try await Self.start(dir, pki)
        let send = try await Self.storescu(server, pki.dcmtkArguments("untrusted-client"), file.path)
        #expect(send.status != 0)
        let events = try await server.stop()
        #expect(server.storedInstances.isEmpty)
        let failures = Self.tlsFailures(events)
        #expect(failures.count == 1 && failures[0].contains("certificate"), "\(failures)")
    }

    @Test func clientWithoutCertificateIsRefusedWhenMutualAuthenticationIsRequired() async throws {
        let dir = TemporaryDirectory("tls-anonymous")
        let pki = try TestPKI(in: try dir.subdirectory("pki"))
        let file = try SyntheticInstances.ctSeries(count: 1, in: try dir.subdirectory("in"))[0]
        let server = try await Self.start(dir, pki)
        // +tla: TLS without a client certificate (the server's is still verified against the CA).
        let send = try await Self.storescu(server, ["+tla", "+cf", pki.certificate("ca")], file.path)
        #expect(send.status != 0)
        let events = try await server.stop()
        #expect(server.storedInstances.isEmpty)
        #expect(Self.tlsFailures(events).count == 1)
    }

    @Test func plainTCPOnTheTLSPortIsRefused() async throws {
        let dir = TemporaryDirectory("tls-plain")
        let pki = try TestPKI(in: try dir.subdirectory("pki"))
        let file = try SyntheticInstances.ctSeries(count: 1, in: try dir.subdirectory("in"))[0]
        let server = try await Self.start(dir, pki)
        let send = try await Self.storescu(server, [], file.path)
        #expect(send.status != 0)
        let events = try await server.stop()
        #expect(server.storedInstances.isEmpty)
        #expect(Self.tlsFailures(events).count == 1)
        #expect(!events.contains { if case .associationAccepted = $0 { true } else { false } })
    }

    /// TLS 1.0 (and 1.1) are below the Non-downgrading BCP 195 profile: the server answers a
    /// TLS 1.0 ClientHello with a protocol_version alert. OpenSSL's s_client is the peer, at
    /// security level 0 so that it is willing to offer TLS 1.0 at all; the same client with
    /// TLS 1.2 and the trusted certificate completes its handshake (the control).
    @Test func tls10IsRefusedAndTLS12IsAccepted() async throws {
        let dir = TemporaryDirectory("tls-version")
        let pki = try TestPKI(in: try dir.subdirectory("pki"))
        let server = try await Self.start(dir, pki)
        let common = [
            "s_client", "-connect", "127.0.0.1:\(server.port)", "-cert", pki.certificate("client"),
            "-key", pki.key("client"), "-CAfile", pki.certificate("ca")
        ]
        let old = try await runTool("openssl", common + ["-tls1", "-cipher", "DEFAULT:@SECLEVEL=0"])
        #expect(old.status != 0)
        #expect((old.output + old.errorOutput).contains("alert protocol version"), "\(old.errorOutput)")
        let current = try await runTool("openssl", common + ["-tls1_2"])
        #expect(
            current.output.contains("Protocol  : TLSv1.2") && current.output.contains("Verify return code: 0 (ok)"),
            "\(current.output)\(current.errorOutput)")
        let events = try await server.stop()
        let failures = Self.tlsFailures(events)
        #expect(failures.contains { $0.contains("unsupported protocol") }, "\(failures)")
    }

    @Test func keyFileReadableByOthersIsRefusedNamingTheFile() async throws {
        let dir = TemporaryDirectory("tls-key-mode")
        let pki = try TestPKI(in: try dir.subdirectory("pki"))
        chmod(pki.key("server"), 0o644)
        var configuration = StorageServerConfiguration(
            aeTitle: RunningStorageServer.aeTitle, port: FreePort.allocate(),
            storeDirectory: try dir.subdirectory("store"),
            callingAETitles: .acceptAny)
        configuration.tls = pki.serverTLS
        let error = #expect(throws: DICOMError.self) { try StorageServer(configuration: configuration) }
        #expect(error?.code == .tls)
        #expect(error?.path == pki.key("server"))
        #expect(error?.description.contains("group or others") == true)
    }
}
