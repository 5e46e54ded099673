import CDICOM

/// The one error type of the DICOM module. It carries what went wrong (`code`), where (`path`
/// for files, `association` for network peers), the offending `tag` when there is one, and the
/// shim's explanation. Descriptions never contain patient data: the shim's messages name tags and
/// UIDs, not values of identifying elements.
public struct DICOMError: Error, Sendable, Equatable, CustomStringConvertible {
    public enum Code: Int32, Sendable {
        case io = 1
        case notDICOM = 2
        case corrupt = 3
        case unsupported = 4
        case missingTag = 5
        case badValue = 6
        case network = 7
        case refused = 8
        case argument = 9
        case `internal` = 10
        case timeout = 11
        /// TLS: an unusable certificate or key (also a key file others may read), a failed
        /// handshake, an untrusted peer certificate or one issued for another host.
        case tls = 12
        /// The peer accepted no presentation context for the object's SOP class and transfer
        /// syntax (PS3.8 9.3.3.2): retrying cannot help until the peer's configuration changes.
        case notAccepted = 13
    }

    public var code: Code
    public var tag: Tag?
    /// The file the error is about, if any.
    public var path: String?
    /// The association or peer the error is about, e.g. `STORESCU@127.0.0.1:104`.
    public var peer: String?
    public var message: String

    public init(_ code: Code, _ message: String, tag: Tag? = nil, path: String? = nil, peer: String? = nil) {
        self.code = code
        self.message = message
        self.tag = tag
        self.path = path
        self.peer = peer
    }

    public var description: String {
        var parts: [String] = []
        if let path { parts.append(path) }
        if let peer { parts.append(peer) }
        var text = parts.isEmpty ? "" : parts.joined(separator: " ") + ": "
        text += message
        if let tag, !message.contains(tag.description) { text += " \(tag)" }
        return text
    }
}

extension DICOMError {
    /// Builds the Swift error from the shim's detail struct.
    package init(_ detail: mn_error, path: String? = nil, peer: String? = nil) {
        var detail = detail
        let message = withUnsafeBytes(of: &detail.message) { raw in
            String(decoding: raw.prefix(while: { $0 != 0 }), as: UTF8.self)
        }
        self.init(
            Code(rawValue: detail.code) ?? .internal, message,
            tag: detail.has_tag != 0 ? Tag(detail.tag) : nil, path: path, peer: peer)
    }
}

/// Calls a shim function and turns a non-OK status into a thrown `DICOMError`.
@inline(__always)
package func shimCall(
    path: String? = nil, peer: String? = nil, _ body: (UnsafeMutablePointer<mn_error>) -> mn_status
) throws(DICOMError) {
    var detail = mn_error()
    let status = body(&detail)
    if status != MN_OK {
        if detail.code == 0 { detail.code = Int32(status.rawValue) }
        throw DICOMError(detail, path: path, peer: peer)
    }
}
