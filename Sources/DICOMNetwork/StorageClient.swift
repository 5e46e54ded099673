import CDICOM
import CDICOMNetwork
import DICOM

/// A DICOM peer to send to: `AE@HOST:PORT`.
public struct Destination: Hashable, Sendable, CustomStringConvertible {
    public var aeTitle: AETitle
    public var host: String
    public var port: UInt16

    public init(aeTitle: AETitle, host: String, port: UInt16) {
        self.aeTitle = aeTitle
        self.host = host
        self.port = port
    }

    /// Parses `AE@HOST:PORT`, e.g. `PACS@10.0.0.5:104`.
    public init(parsing text: String) throws(DICOMError) {
        guard let at = text.firstIndex(of: "@"), let colon = text.lastIndex(of: ":"), at < colon,
            let port = UInt16(text[text.index(after: colon)...]), port > 0
        else {
            throw DICOMError(.argument, "destination '\(text)' is not AE@HOST:PORT")
        }
        let host = String(text[text.index(after: at)..<colon])
        if host.isEmpty { throw DICOMError(.argument, "destination '\(text)' has no host") }
        self.init(aeTitle: try AETitle(String(text[..<at])), host: host, port: port)
    }

    public var description: String { "\(aeTitle)@\(host):\(port)" }
}

/// Settings of a ``StorageClient``.
public struct StorageClientConfiguration: Sendable {
    /// When a peer does not accept an instance's transfer syntax, which instances may be sent
    /// decompressed (explicit VR little endian) instead.
    public enum Decompression: Int32, Sendable {
        case never = 0
        /// Losslessly compressed instances only (JPEG lossless, JPEG-LS lossless, RLE...).
        case lossless = 1
        /// Also lossy ones (their Lossy Image Compression (0028,2110) stays "01").
        case all = 2
    }

    public var callingAETitle: AETitle
    public var decompression: Decompression = .lossless
    public var connectTimeout: Duration = .seconds(10)
    public var acseTimeout: Duration = .seconds(30)
    public var dimseTimeout: Duration = .seconds(60)
    public var maxPDULength: UInt32 = 65_536
    /// nil: plain TCP. Otherwise TLS (BCP 195, TLS 1.2+); with `verifyPeer` the peer's certificate
    /// must chain to the trusted CAs and carry the destination's host (or `serverName`).
    public var tls: TLSConfiguration?

    public init(callingAETitle: AETitle) { self.callingAETitle = callingAETitle }
}

/// What happened to one file of a ``StorageClient/send(_:to:)``.
public struct SendOutcome: Sendable {
    public var path: String
    /// From the file's meta header; nil when it could not be read.
    public var sopClassUID: String?
    public var sopInstanceUID: String?
    /// The transfer syntax it went over the network in (differs from the file's when decompressed).
    public var transferSyntaxUID: String?
    /// The peer's C-STORE response status; nil when no response was received.
    public var status: DIMSEStatus?
    /// Why it was not sent (or not answered): names the file, the peer and the reason.
    public var error: DICOMError?

    /// Stored by the peer (success, or a warning: PS3.4 B.2.3 says the instance was stored).
    public var isStored: Bool { status.map { $0.isSuccess || $0.isWarning } ?? false }
}

/// A DICOM Storage SCU (DCMTK's DcmStorageSCU). It proposes exactly the SOP classes and transfer
/// syntaxes of the files (plus uncompressed ones where ``StorageClientConfiguration/decompression``
/// allows a fallback), uses as many associations as 128 presentation contexts require, and
/// reports each file's own outcome.
///
/// ```swift
/// let client = StorageClient(configuration: .init(callingAETitle: try AETitle("MAMBANODE")))
/// let outcomes = await client.send(paths, to: try Destination(parsing: "PACS@pacs:104"))
/// for failed in outcomes where !failed.isStored { print(failed.error ?? "") }
/// ```
public struct StorageClient: Sendable {
    public var configuration: StorageClientConfiguration

    public init(configuration: StorageClientConfiguration) {
        NetworkEnvironment.prepare()
        self.configuration = configuration
    }

    /// Sends `paths` (files) to `destination`; one outcome per path, in order. Never throws:
    /// an association failure is each unsent file's error.
    public func send(_ paths: [String], to destination: Destination) async -> [SendOutcome] {
        let configuration = self.configuration
        return await runOnDedicatedThread(name: "dicom-scu") {
            StorageClient.sendBlocking(paths, to: destination, configuration: configuration)
        }
    }

    /// Verifies that `destination` answers a C-ECHO (PS3.7 9.1.5).
    public func echo(_ destination: Destination) async throws(DICOMError) {
        let configuration = self.configuration
        let result = await runOnDedicatedThread(name: "dicom-echo") { () -> Result<Void, DICOMError> in
            do throws(DICOMError) {
                try StorageClient.withConfig(configuration, destination) { (config) throws(DICOMError) in
                    try shimCall(peer: destination.description) { mn_scu_echo(&config, $0) }
                }
                return .success(())
            } catch {
                return .failure(error)
            }
        }
        try result.get()
    }

    private static func sendBlocking(
        _ paths: [String], to destination: Destination,
        configuration: StorageClientConfiguration
    ) -> [SendOutcome] {
        do throws(DICOMError) { try configuration.tls?.checkPrivateKeyFile() } catch {
            return paths.map {
                SendOutcome(
                    path: $0,
                    error: DICOMError(
                        error.code, error.message, path: error.path,
                        peer: destination.description))
            }
        }
        var results: UnsafeMutablePointer<mn_scu_result>?
        var count = 0
        var detail = mn_error()
        let status = withConfig(configuration, destination) { config in
            withCStrings(paths) { list in mn_scu_send(&config, list, paths.count, &results, &count, &detail) }
        }
        defer { mn_scu_results_free(results, count) }
        let peer = destination.description
        guard let results, count == paths.count else {
            if detail.code == 0 { detail.code = Int32(status.rawValue) }
            let error = DICOMError(detail, peer: peer)
            return paths.map {
                SendOutcome(path: $0, error: DICOMError(error.code, error.message, path: $0, peer: peer))
            }
        }
        return (0..<count).map { i in
            let r = results[i]
            let path = String(cString: r.path)
            var outcome = SendOutcome(path: path)
            outcome.sopClassUID = r.sop_class_uid.map { String(cString: $0) }
            outcome.sopInstanceUID = r.sop_instance_uid.map { String(cString: $0) }
            outcome.transferSyntaxUID = r.transfer_syntax_uid.map { String(cString: $0) }
            let reason = r.detail.map { String(cString: $0) } ?? "not sent"
            if r.sent != 0 {
                let response = DIMSEStatus(r.dimse_status)
                outcome.status = response
                if response.isFailure {
                    outcome.error = DICOMError(
                        .refused, "C-STORE of \(outcome.sopInstanceUID ?? "?") answered \(response)",
                        path: path, peer: peer)
                }
            } else {
                let code = DICOMError.Code(rawValue: r.error_code) ?? .network
                outcome.error = DICOMError(code, reason, path: path, peer: peer)
            }
            return outcome
        }
    }

    private static func withConfig<R, E: Error>(
        _ c: StorageClientConfiguration, _ d: Destination,
        _ body: (inout mn_scu_config) throws(E) -> R
    ) throws(E) -> R {
        let calling = strdup(c.callingAETitle.value), called = strdup(d.aeTitle.value), host = strdup(d.host)
        let serverName = c.tls?.serverName.map { strdup($0) } ?? nil
        defer {
            free(calling)
            free(called)
            free(host)
            free(serverName)
        }
        var config = mn_scu_config()
        config.tls_server_name = UnsafePointer(serverName)
        config.calling_ae = UnsafePointer(calling)
        config.called_ae = UnsafePointer(called)
        config.host = UnsafePointer(host)
        config.port = d.port
        config.max_pdu = c.maxPDULength
        config.connect_timeout_s = UInt32(clamping: c.connectTimeout.components.seconds)
        config.acse_timeout_s = UInt32(clamping: c.acseTimeout.components.seconds)
        config.dimse_timeout_s = UInt32(clamping: c.dimseTimeout.components.seconds)
        config.decompression = c.decompression.rawValue
        guard let tls = c.tls else { return try body(&config) }
        return try tls.withShimConfig { (shim) throws(E) -> R in
            config.tls = shim
            return try body(&config)
        }
    }
}

#if canImport(Glibc)
    import Glibc
#elseif canImport(Darwin)
    import Darwin
#endif
