import DICOM

/// Who is on the other end of an association, as the association request said.
public struct AssociationInfo: Hashable, Sendable, CustomStringConvertible {
    /// Unique per server run, starting at 1; 0 when the listener refused before negotiation.
    public var id: UInt64
    public var callingAETitle: String
    public var calledAETitle: String
    /// The peer's IP address.
    public var peer: String

    public var description: String { "\(callingAETitle)@\(peer) (association \(id))" }
}

/// An instance durably stored by the ``StorageServer``.
public struct ReceivedInstance: Sendable, Equatable {
    /// The file in the ``InstanceStore``.
    public var path: String
    public var sopClassUID: String
    public var sopInstanceUID: String
    /// The transfer syntax the instance arrived (and is stored) in.
    public var transferSyntaxUID: String
    public var association: AssociationInfo
    /// True when the SOP Instance UID was already stored; the store kept the first copy.
    public var isDuplicate: Bool
}

/// What a ``StorageServer`` reports on its ``StorageServer/events`` stream.
public enum StorageServerEvent: Sendable {
    case associationAccepted(AssociationInfo)
    /// PS3.8 A-ASSOCIATE-RJ sent; `reason` says why (unknown calling AE, wrong called AE, busy...).
    case associationRejected(AssociationInfo, reason: String)
    /// A TCP connection ended without a valid association request: closed or reset at once (load
    /// balancer health checks, port scans), garbage instead of an A-ASSOCIATE-RQ, or nothing within
    /// the ACSE timeout (PS3.8 ARTIM). Not an association: only `peer` is known.
    case connectionDropped(peer: String, reason: String)
    /// A connection to a TLS listener failed its handshake before any association (no or an
    /// untrusted client certificate, TLS older than 1.2, plain TCP); only `peer` is known.
    case tlsHandshakeFailed(AssociationInfo, reason: String)
    case associationReleased(AssociationInfo)
    /// A-ABORT received, or sent by us after a DIMSE error (garbage, a peer that vanished).
    case associationAborted(AssociationInfo, reason: String)
    case echo(AssociationInfo)
    /// Stored and fsync'd; the success response follows.
    case instanceStored(ReceivedInstance)
    /// Answered with a failure `status`; `error` names the association and the reason.
    case instanceRefused(AssociationInfo, status: DIMSEStatus, error: DICOMError)
    /// A failure outside any one instance's decision (e.g. receiving a data set failed).
    case error(AssociationInfo, DICOMError)
}
