import CDICOM
import CDICOMNetwork
import DICOM

#if canImport(Glibc)
    import Glibc
#elseif canImport(Darwin)
    import Darwin
#endif

/// DICOM TLS settings of a listener or of one destination (PS3.15 B.9). The shim always uses
/// DCMTK's Non-downgrading BCP 195 profile (PS3.15 B.12): TLS 1.2 or newer with AES-GCM
/// ECDHE/DHE ciphersuites, so TLS 1.0/1.1 and the retired Basic and AES profiles are refused.
///
/// ```swift
/// var server = StorageServerConfiguration(...)
/// server.tls = TLSConfiguration(certificateFile: "/etc/mambanode/server.crt",
///                               privateKeyFile: "/etc/mambanode/server.key",
///                               trustedCAFile: "/etc/mambanode/ca.crt", verifyPeer: true)
/// ```
public struct TLSConfiguration: Sendable, Equatable {
    /// Our certificate (PEM). Required for a listener; for a sender only when the peer asks for
    /// mutual authentication.
    public var certificateFile: String?
    /// Its private key (PEM, unencrypted). Refused when group or others may access it.
    public var privateKeyFile: String?
    /// The CAs trusted for the peer's certificate (PEM bundle).
    public var trustedCAFile: String?
    /// Listener: clients must present a certificate chaining to `trustedCAFile` (mutual
    /// authentication). Sender: the server's certificate must chain to it; always wanted.
    public var verifyPeer: Bool
    /// Sender only: the DNS name or IP address the server's certificate must carry; nil uses the
    /// destination's host.
    public var serverName: String?

    public init(
        certificateFile: String? = nil, privateKeyFile: String? = nil, trustedCAFile: String? = nil,
        verifyPeer: Bool = true, serverName: String? = nil
    ) {
        self.certificateFile = certificateFile
        self.privateKeyFile = privateKeyFile
        self.trustedCAFile = trustedCAFile
        self.verifyPeer = verifyPeer
        self.serverName = serverName
    }

    /// Refuses a private key file that group or others may access (the shim checks again when it
    /// reads the file); the error names the file.
    public func checkPrivateKeyFile() throws(DICOMError) {
        guard let key = privateKeyFile else { return }
        var info = stat()
        guard stat(key, &info) == 0 else {
            throw DICOMError(.tls, "private key file cannot be read: \(String(cString: strerror(errno)))", path: key)
        }
        let mode = info.st_mode & 0o7777
        if mode & 0o077 != 0 {
            throw DICOMError(
                .tls,
                "private key file is accessible by group or others (mode \(String(mode, radix: 8))); "
                    + "chmod 600 it", path: key)
        }
    }

    /// Calls `body` with the shim's view of the settings, valid for the duration of the call.
    func withShimConfig<R, E: Error>(_ body: (UnsafePointer<mn_tls_config>) throws(E) -> R) throws(E) -> R {
        let strings = [certificateFile, privateKeyFile, trustedCAFile].map { $0.map { strdup($0) } ?? nil }
        defer { strings.forEach { free($0) } }
        var config = mn_tls_config()
        config.certificate_file = UnsafePointer(strings[0])
        config.private_key_file = UnsafePointer(strings[1])
        config.ca_file = UnsafePointer(strings[2])
        config.verify_peer = verifyPeer ? 1 : 0
        return try withUnsafePointer(to: &config) { (pointer) throws(E) -> R in try body(pointer) }
    }
}
