import DICOM
import DICOMNetwork
import Results

/// Everything the node is told by its configuration file, parsed and validated once
/// (`NodeConfiguration.load(from:)`) and handed to each service by value.
public struct NodeConfiguration: Sendable {
    /// The DICOM listener (PS3.8 association acceptor).
    public struct Listener: Sendable, Equatable {
        public var aeTitle: AETitle
        public var port: UInt16
        public var maxAssociations: Int
        /// Calling AE titles allowed to store; checked unless `acceptAnyCallingAE`.
        public var allowedCallingAETitles: [AETitle]
        /// Accept any calling AE title. Off by default: an empty allow-list refuses everyone.
        public var acceptAnyCallingAE: Bool
        /// Source addresses allowed to open associations; empty allows every address.
        public var allowedSources: [AddressRange] = []
        /// DICOM TLS; nil: plain TCP only.
        public var tls: ListenerTLS? = nil
        /// Whether the plain TCP listener on `port` runs (false only with `tls`: TLS only).
        public var plainListener: Bool = true
        /// How long a new connection may take to send its A-ASSOCIATE-RQ, and association messages
        /// in general (PS3.8 ARTIM), in seconds. The listener accepts nothing else meanwhile, so a
        /// connection that holds without sending delays other peers by up to this long.
        public var acseTimeout: Double = 30
        /// How long a peer may stay silent within an association before it is aborted, in seconds.
        public var dimseTimeout: Double = 60
    }

    /// The TLS listener (PS3.15 B.9, BCP 195): its own port, our certificate and key, and the
    /// CAs whose client certificates are accepted.
    public struct ListenerTLS: Sendable, Equatable {
        public var port: UInt16
        public var certificateFile: String
        public var privateKeyFile: String
        public var trustedCAFile: String?
        /// Mutual authentication: clients must present a certificate from `trustedCAFile`.
        public var requireClientCertificate: Bool

        public var tlsConfiguration: TLSConfiguration {
            TLSConfiguration(
                certificateFile: certificateFile, privateKeyFile: privateKeyFile,
                trustedCAFile: trustedCAFile, verifyPeer: requireClientCertificate)
        }
    }

    /// Caps on what one peer can make the node hold (docs/node-behaviour.md, Security).
    public struct Limits: Sendable, Equatable {
        /// Larger instances are refused with 0xA700; nil: no cap.
        public var maxInstanceBytes: UInt64?
        /// C-STOREs beyond this in one association are refused with 0xA700; nil: no cap.
        public var maxInstancesPerAssociation: Int?
        /// A series assembling to more voxels fails its job with the size as reason, before its
        /// pixels are decoded (the volume, its resampled copy and the network's activations must
        /// fit in memory with `max_concurrent_jobs` of them at once). Default 2^30.
        public var maxVolumeVoxels: Int? = 1 << 30
    }

    /// The audit trail (PS3.15 A.5): one JSON message per line in `file`, optionally also sent to
    /// an RFC 5424 syslog receiver over TCP.
    public struct Audit: Sendable, Equatable {
        /// nil: no audit trail (`audit.enabled: false`). Default `<storage.directory>/audit.jsonl`.
        public var file: String?
        public var syslog: SyslogTarget?
    }

    public struct SyslogTarget: Sendable, Equatable {
        public var host: String
        public var port: UInt16
        /// RFC 5425 (syslog over TLS) with the destinations' TLS settings; nil: plain TCP.
        public var tls: TLSConfiguration?

        public init(host: String, port: UInt16, tls: TLSConfiguration? = nil) {
            self.host = host
            self.port = port
            self.tls = tls
        }
    }

    public struct Storage: Sendable, Equatable {
        /// Where received instances and produced results live.
        public var directory: String
        /// The SQLite database holding the index, jobs and outbox (`storage.database` as given).
        public var databasePath: String
        /// Set when `storage.database` is a PostgreSQL URL: the database several nodes share
        /// (docs/cluster.md); nil: the embedded SQLite file `databasePath`.
        public var postgreSQL: PostgreSQLLocation? = nil
        /// Associations are refused and `/ready` fails below this much free space.
        public var minimumFreeBytes: UInt64
    }

    public struct HTTP: Sendable, Equatable {
        public var bindAddress: String
        /// 0 disables the HTTP server.
        public var port: UInt16
        /// A file holding the bearer token that state-changing requests (POST, PUT, DELETE) must
        /// present; nil disables those requests.
        public var tokenFile: String? = nil
    }

    public struct Logging: Sendable, Equatable {
        public enum Format: String, Sendable { case text, json }
        public enum Level: String, Sendable { case trace, debug, info, notice, warning, error, critical }
        public var format: Format
        public var level: Level
    }

    /// How the sender retries (docs/node-behaviour.md, Sending: 30 s doubling, capped at 10 min,
    /// parked after 24 h).
    public struct SendPolicy: Sendable, Equatable {
        public var firstRetry: Double
        public var maximumRetry: Double
        public var giveUpAfter: Double
        public var jitter: Double
    }

    /// This node among others sharing one PostgreSQL database (docs/cluster.md).
    public struct Cluster: Sendable, Equatable {
        /// Recorded as the holder of the jobs it runs (`node.name`; default: the host's name).
        public var name: String
        /// What this node does (`node.roles`).
        public var roles: Set<NodeRole>
        /// How long a claimed job stays this node's without a renewal (`node.job_lease`, default
        /// 2 min); renewed every third of it while the job runs.
        public var jobLease: Double
    }

    public var listener: Listener
    public var cluster = Cluster(name: NodeStore.defaultName, roles: Set(NodeRole.allCases), jobLease: 120)
    public var storage: Storage
    public var http: HTTP
    public var logging: Logging
    public var sending: SendPolicy
    /// The UIDs the node makes: under the configured `uid_root`, or 2.25 UUID-derived ones.
    public var uids: UIDGenerator
    /// Forward passes run at the same time (inference is memory- and CPU-heavy).
    public var maxConcurrentJobs: Int
    /// Run one job more than `maxConcurrentJobs`, whose forward pass waits its turn: it assembles
    /// and preprocesses, or encodes, while another job's forward pass runs (`ForwardPassGate`).
    /// Default on (docs/node-behaviour.md, Running jobs).
    public var overlapJobs = true
    /// Job workers: the forward passes, plus one with `overlapJobs`.
    public var jobWorkers: Int { maxConcurrentJobs + (overlapJobs ? 1 : 0) }
    public var destinations: [Destination]
    public var limits: Limits = Limits()
    public var audit: Audit = Audit(file: "var/store/audit.jsonl", syslog: nil)
    /// Model name → package folder.
    public var models: [String: String]
    /// In the order they are tried: descending priority, then file order.
    public var routes: [Route]
    /// How long a series no route matched waits for more instances before it is reported as
    /// unrouted, in seconds (docs/node-behaviour.md, Series completion).
    public var unroutedQuietTime: Double = 45

    /// How Secondary Capture overlays are drawn (YAML `overlays`).
    public var overlays = Overlays()

    public func destination(named name: String) -> Destination? { destinations.first { $0.name == name } }

    /// YAML `overlays: { slices: findings | all, fill_opacity: 0…1 }`.
    public struct Overlays: Sendable, Equatable {
        /// An overlay of every source slice, not only of those with a segment or landmark.
        public var allSlices = false
        /// Opacity of the segments' fill; 0 draws outlines only.
        public var fillOpacity = 0.0
    }

    /// A DICOM peer results are sent to.
    public struct Destination: Sendable, Equatable {
        public var name: String
        public var aeTitle: AETitle
        public var host: String
        public var port: UInt16
        /// Our AE title when calling it (defaults to the listener's).
        public var callingAETitle: AETitle
        /// DICOM TLS to this peer; nil: plain TCP.
        public var tls: TLSConfiguration? = nil
        /// The result objects this peer receives (YAML `outputs`, default `[seg, sr]`): a PACS
        /// whose viewers cannot show a SEG may take only the report, and so on.
        public var outputs: Set<EncodedObject.Kind> = Destination.defaultOutputs

        public static let defaultOutputs: Set<EncodedObject.Kind> = [.segmentation, .report]

        /// The YAML name of each output kind the node produces.
        public static let outputNames: [String: EncodedObject.Kind] = Dictionary(
            uniqueKeysWithValues: EncodedObject.Kind.allCases.map { ($0.outputName, $0) })
    }
}
