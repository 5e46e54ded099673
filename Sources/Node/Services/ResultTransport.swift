/// How the sender delivers files to a destination. The node uses DICOM C-STORE
/// (`StorageClientTransport`); tests use a fake peer.
public protocol ResultTransport: Sendable {
    /// Sends the files to `destination`; one outcome per path, in order.
    func send(_ paths: [String], to destination: NodeConfiguration.Destination) async -> [TransportOutcome]
}

/// The result of sending one file.
public struct TransportOutcome: Sendable, Equatable {
    public var path: String
    /// The peer's C-STORE response status; nil when no response was received.
    public var status: UInt16?
    /// True when the peer stored it (success or warning, PS3.4 B.2.3).
    public var isStored: Bool
    /// Why not, naming the peer and the reason; nil when stored.
    public var error: String?
    /// The peer accepted no presentation context for the file's SOP class (PS3.8 9.3.3.2):
    /// resending cannot help until the peer's configuration changes.
    public var notAccepted: Bool

    public init(path: String, status: UInt16?, isStored: Bool, error: String?, notAccepted: Bool = false) {
        self.path = path
        self.status = status
        self.isStored = isStored
        self.error = error
        self.notAccepted = notAccepted
    }
}
