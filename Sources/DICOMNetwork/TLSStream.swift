import CDICOM
import CDICOMNetwork
import DICOM

/// A TLS byte stream to a non-DICOM peer, under the node's one TLS policy (BCP 195
/// non-downgrading profile, peer certificate chained to `tls.trustedCAFile` and carrying the
/// expected name, our certificate for mutual authentication): the audit trail's syslog receiver
/// (RFC 5425). Not thread-safe: the owner serialises writes.
///
/// ```swift
/// let stream = try TLSStream(host: "audit.example", port: 6514, tls: settings, timeoutSeconds: 10)
/// try stream.write(Array("12 hello world".utf8))
/// ```
public final class TLSStream {
    private let handle: OpaquePointer
    public let peer: String

    /// Connects and completes the handshake within `timeoutSeconds`, verifying the peer's
    /// certificate against `tls.serverName` (or `host`). Errors: `.network`, `.tls` (with
    /// OpenSSL's reason), `.timeout`.
    public init(host: String, port: UInt16, tls: TLSConfiguration, timeoutSeconds: Double = 10) throws(DICOMError) {
        peer = "\(host):\(port)"
        try tls.checkPrivateKeyFile()
        var opened: OpaquePointer?
        let milliseconds = Int32(max(1, min(timeoutSeconds * 1000, Double(Int32.max))))
        let peer = self.peer
        try tls.withShimConfig { (config) throws(DICOMError) in
            try shimCall(peer: peer) { err in
                mn_tls_stream_open(host, port, config, tls.serverName, milliseconds, &opened, err)
            }
        }
        guard let opened else { throw DICOMError(.internal, "TLS stream not opened", peer: peer) }
        handle = opened
    }

    deinit { mn_tls_stream_close(handle) }

    /// Writes every byte; `.network` when the peer has gone (the stream is then unusable).
    public func write(_ bytes: [UInt8]) throws(DICOMError) {
        var detail = mn_error()
        let status = bytes.withUnsafeBytes { raw in mn_tls_stream_write(handle, raw.baseAddress, raw.count, &detail) }
        if status != MN_OK {
            if detail.code == 0 { detail.code = Int32(status.rawValue) }
            throw DICOMError(detail, peer: peer)
        }
    }
}
