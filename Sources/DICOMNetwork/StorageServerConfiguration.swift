import DICOM

/// Which calling AE titles may open an association with the storage SCP. There is no default
/// that accepts everyone: accepting any peer has to be asked for (docs/node-behaviour.md, Security).
public enum CallingAETitlePolicy: Sendable, Equatable {
    /// Only these calling AE titles are accepted; an empty set accepts no one.
    case allowList(Set<AETitle>)
    /// Every calling AE title is accepted.
    case acceptAny
}

/// What an admission check decides for an association request (``StorageServer/init(configuration:admit:onInstance:)``).
/// Each refusal is sent as the A-ASSOCIATE-RJ PS3.8 9.3.4 prescribes for it.
public enum AssociationAdmission: Sendable, Equatable {
    case admit
    /// A local resource is short (free disk): rejected-transient, service-provider (presentation),
    /// local-limit-exceeded; the peer may retry later.
    case refuseResources(reason: String)
    /// The peer's address is not allowed: rejected-permanent, service-user, no-reason-given.
    case refuseCallingHost(reason: String)
    /// The calling AE title is not allowed: rejected-permanent, service-user, calling-AE-title-not-recognized.
    case refuseCallingAE(reason: String)
}

/// Settings of a ``StorageServer``.
///
/// ```swift
/// var configuration = StorageServerConfiguration(
///     aeTitle: try AETitle("MAMBANODE"), port: 11112, storeDirectory: "/var/lib/mambanode/incoming",
///     callingAETitles: .allowList([try AETitle("CT01")]))
/// configuration.maxAssociations = 16
/// ```
public struct StorageServerConfiguration: Sendable {
    /// The called AE title this node answers to; associations calling another title are rejected
    /// (PS3.8 A-ASSOCIATE-RJ, called AE title not recognized).
    public var aeTitle: AETitle
    public var port: UInt16
    /// The ``InstanceStore`` directory.
    public var storeDirectory: String
    public var callingAETitles: CallingAETitlePolicy
    /// Associations served at once; more are rejected (local limit exceeded), not queued.
    public var maxAssociations: Int = 8
    /// Largest PDU we accept (PS3.8 D.3.3.2.1). Large PDUs cut per-PDU overhead for images.
    public var maxPDULength: UInt32 = 65_536
    /// How long to wait for association messages (PS3.8 ARTIM) and for DIMSE messages. A silent
    /// peer is aborted after `dimseTimeout`, which also bounds how long `stop()` waits.
    public var acseTimeout: Duration = .seconds(30)
    public var dimseTimeout: Duration = .seconds(60)
    /// nil: plain TCP. Otherwise every connection must complete a TLS handshake (BCP 195,
    /// TLS 1.2+) first; plain TCP, TLS 1.0/1.1 and, with `verifyPeer`, clients without a
    /// certificate from the trusted CAs are refused before any association (PS3.15 B.9).
    public var tls: TLSConfiguration?
    /// Instances larger than this (bytes, as received) are refused with 0xA700 "Out of
    /// Resources" (PS3.4 B.2.3) and deleted; nil: no limit.
    public var maxInstanceBytes: UInt64?
    /// C-STOREs beyond this many in one association are refused with 0xA700; nil: no limit.
    public var maxInstancesPerAssociation: Int?
    /// Directories whose file systems are flushed with the store before a success response:
    /// where `onInstance` writes with deferred durability (the node's database), so one flush
    /// covers the instance and its record.
    public var alsoDurable: [String] = []
    /// Whether `onInstance` runs before the round's flush (true, the default) or after it. Before:
    /// its writes are made durable by that flush (`alsoDurable`). After: for an index that is
    /// durable on its own (a database server's commit), so that no row ever names a file a power
    /// loss could take away; an instance flushed but not indexed is refused and, re-sent, indexed.
    public var indexBeforeFlush = true
    /// The name of the folder inside `storeDirectory` that instances are streamed into before
    /// they are committed (`InstanceStore.incomingDirectory`). Servers of several processes that
    /// share one store folder need one each: a server deletes what it finds there when it starts.
    public var incomingName = ".incoming"

    public init(aeTitle: AETitle, port: UInt16, storeDirectory: String, callingAETitles: CallingAETitlePolicy) {
        self.aeTitle = aeTitle
        self.port = port
        self.storeDirectory = storeDirectory
        self.callingAETitles = callingAETitles
    }
}
