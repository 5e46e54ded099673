import DICOM
import DICOMNetwork
import Foundation
import TestSupport
import Testing

/// The storage SCU over DICOM TLS against DCMTK's `storescp +tls`: it delivers
/// to a peer whose certificate chains to the trusted CA and names the host dialled, and refuses
/// one whose certificate is for another host.
@Suite struct StorageClientTLSTests {
    /// storescp +tls presenting the key pair `name`, requiring a client certificate from the CA.
    static func startStorescp(
        _ dir: TemporaryDirectory, _ pki: TestPKI, presenting name: String
    ) async throws
        -> (ChildProcess, UInt16, String)
    {
        let port = FreePort.allocate()
        let out = try dir.subdirectory("received")
        let child = try ChildProcess(
            "storescp", pki.dcmtkArguments(name) + ["-od", out, "\(port)"], logDirectory: dir.path)
        guard await waitUntil({ FreePort.isListening(port) }) else { throw ToolError("storescp did not start") }
        return (child, port, out)
    }

    static func client(_ tls: TLSConfiguration) -> StorageClient {
        var configuration = StorageClientConfiguration(callingAETitle: try! AETitle("MAMBANODE"))
        configuration.tls = tls
        return StorageClient(configuration: configuration)
    }

    @Test func deliversToStorescpOverTLS() async throws {
        let dir = TemporaryDirectory("scu-tls")
        let pki = try TestPKI(in: try dir.subdirectory("pki"))
        let file = try SyntheticInstances.ctSeries(count: 1, in: try dir.subdirectory("in"))[0]
        let (storescp, port, out) = try await Self.startStorescp(dir, pki, presenting: "server")
        let outcomes = await Self.client(pki.clientTLS).send(
            [file.path],
            to: Destination(
                aeTitle: try AETitle("STORESCP"), host: "127.0.0.1", port: port))
        await storescp.kill()
        #expect(outcomes.count == 1 && outcomes[0].isStored, "\(String(describing: outcomes.first?.error))")
        #expect(StorageClientTests.received(file.sopInstanceUID, in: out) != nil)
    }

    @Test func refusesPeerWhoseCertificateIsForAnotherHost() async throws {
        let dir = TemporaryDirectory("scu-tls-host")
        let pki = try TestPKI(in: try dir.subdirectory("pki"))
        let file = try SyntheticInstances.ctSeries(count: 1, in: try dir.subdirectory("in"))[0]
        let (storescp, port, out) = try await Self.startStorescp(dir, pki, presenting: "wronghost")
        let destination = Destination(aeTitle: try AETitle("STORESCP"), host: "127.0.0.1", port: port)
        let refused = await Self.client(pki.clientTLS).send([file.path], to: destination)
        // Control: the same peer is accepted when we expect the name its certificate carries, so
        // the refusal above is the host check, not the chain.
        var named = pki.clientTLS
        named.serverName = "wrong.example"
        let accepted = await Self.client(named).send([file.path], to: destination)
        await storescp.kill()
        let error = try #require(refused.first?.error)
        #expect(refused.first?.isStored == false)
        #expect(error.code == .tls, "\(error)")
        #expect(error.description.contains("mismatch"), "\(error)")
        #expect(accepted.first?.isStored == true, "\(String(describing: accepted.first?.error))")
        #expect(StorageClientTests.received(file.sopInstanceUID, in: out) != nil)
    }

    @Test func refusesPeerFromAnUntrustedCA() async throws {
        let dir = TemporaryDirectory("scu-tls-ca")
        let pki = try TestPKI(in: try dir.subdirectory("pki"))
        let file = try SyntheticInstances.ctSeries(count: 1, in: try dir.subdirectory("in"))[0]
        let (storescp, port, _) = try await Self.startStorescp(dir, pki, presenting: "server")
        var untrusting = pki.clientTLS
        untrusting.trustedCAFile = pki.certificate("untrusted-ca")
        let outcomes = await Self.client(untrusting).send(
            [file.path],
            to: Destination(
                aeTitle: try AETitle("STORESCP"), host: "127.0.0.1", port: port))
        await storescp.kill()
        #expect(outcomes.first?.isStored == false)
        #expect(outcomes.first?.error?.code == .tls, "\(String(describing: outcomes.first?.error))")
    }
}
