import DICOM
import DICOMNetwork
import Foundation

/// A throw-away PKI made by `Scripts/make-test-ca` (a trusted CA with server and client
/// certificates, an untrusted CA with a client, a server certificate for the wrong host).
public struct TestPKI: Sendable {
    public let directory: String

    /// Runs `Scripts/make-test-ca` into `directory`.
    public init(in directory: String) throws {
        self.directory = directory
        let script = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
            .deletingLastPathComponent().appendingPathComponent("Scripts/make-test-ca").path
        try runToolChecked(script, [directory])
    }

    public func file(_ name: String) -> String { directory + "/" + name }

    /// `NAME.key`, `NAME.crt`.
    public func key(_ name: String) -> String { file(name + ".key") }
    public func certificate(_ name: String) -> String { file(name + ".crt") }

    /// A listener presenting `server` and requiring clients from the trusted CA.
    public var serverTLS: TLSConfiguration {
        TLSConfiguration(
            certificateFile: certificate("server"), privateKeyFile: key("server"),
            trustedCAFile: certificate("ca"), verifyPeer: true)
    }

    /// A sender trusting the CA and presenting `client` (mutual authentication).
    public var clientTLS: TLSConfiguration {
        TLSConfiguration(
            certificateFile: certificate("client"), privateKeyFile: key("client"),
            trustedCAFile: certificate("ca"), verifyPeer: true)
    }

    /// storescu/storescp arguments for TLS with the key pair `name`, trusting the trusted CA.
    public func dcmtkArguments(_ name: String) -> [String] {
        ["+tls", key(name), certificate(name), "-pw", "+cf", certificate("ca")]
    }
}
