import DICOM
import DICOMNetwork
import Foundation
import Hummingbird
import Logging
import Pipeline
import ServiceLifecycle

/// The node's services under one lifecycle: the receiver writing through the store and index,
/// the series tracker, the job workers, the sender and the HTTP API (those of its `node.roles`).
/// Stopped gracefully on SIGTERM/SIGINT.
public struct NodeServer: Sendable {
    public let configuration: NodeConfiguration
    public let store: any NodeStateStore
    public let metrics = NodeMetrics()
    let logger: Logger

    /// Runs the jobs; nil leaves queued jobs queued (durably) until a node with an executor runs.
    let executor: (any JobExecutor)?

    /// - Parameter makeExecutor: builds the job executor over the node's store; returning nil
    ///   leaves jobs queued.
    public init(
        configuration: NodeConfiguration, logger: Logger = Logger(label: "mambanode"),
        makeExecutor: (any NodeStateStore) throws -> (any JobExecutor)?
    ) throws {
        self.configuration = configuration
        self.logger = logger
        store = try Self.openStore(configuration, logger: logger)
        executor = configuration.cluster.roles.contains(.work) ? try makeExecutor(store) : nil
    }

    /// The store the configuration names: the shared PostgreSQL database of `storage.database:
    /// postgresql://…`, else the embedded SQLite file.
    public static func openStore(_ configuration: NodeConfiguration, logger: Logger) throws -> any NodeStateStore {
        let router = Router(configuration)
        if let location = configuration.storage.postgreSQL {
            return PostgreSQLNodeStore(
                location: location, router: router, name: configuration.cluster.name,
                roles: configuration.cluster.roles, storeRoot: configuration.storage.directory,
                lease: configuration.cluster.jobLease, logger: logger)
        }
        return NodeStore(
            database: try NodeDatabase(path: configuration.storage.databasePath), router: router,
            name: configuration.cluster.name)
    }

    /// The node with the inference pipeline as executor (what `mambanode serve` runs).
    public static func withPipeline(
        configuration: NodeConfiguration, logger: Logger = Logger(label: "mambanode")
    ) throws -> NodeServer {
        try NodeServer(configuration: configuration, logger: logger) { store in
            var encoder = try NodeIdentity.encoderConfiguration(aeTitle: configuration.listener.aeTitle.value)
            encoder.overlayAllSlices = configuration.overlays.allSlices
            encoder.overlayFillOpacity = configuration.overlays.fillOpacity
            return try PipelineExecutor(configuration: configuration, store: store, encoder: encoder)
        }
    }

    /// Where received instances are kept.
    public var instanceDirectory: String { configuration.storage.directory + "/instances" }

    /// The storage SCP settings for the plain listener (`tls == nil`) or the TLS one.
    func serverConfiguration(tls: NodeConfiguration.ListenerTLS?) throws -> StorageServerConfiguration {
        let listener = configuration.listener
        var server = StorageServerConfiguration(
            aeTitle: listener.aeTitle, port: tls?.port ?? listener.port, storeDirectory: instanceDirectory,
            callingAETitles: listener.acceptAnyCallingAE ? .acceptAny : .allowList(Set(listener.allowedCallingAETitles))
        )
        server.maxAssociations = listener.maxAssociations
        server.acseTimeout = .seconds(listener.acseTimeout)
        server.dimseTimeout = .seconds(listener.dimseTimeout)
        server.tls = tls?.tlsConfiguration
        server.maxInstanceBytes = configuration.limits.maxInstanceBytes
        server.maxInstancesPerAssociation = configuration.limits.maxInstancesPerAssociation
        // Several nodes share a store folder (docs/cluster.md): each streams into its own.
        if store is PostgreSQLNodeStore {
            server.incomingName = ".incoming-" + Self.fileSafe(configuration.cluster.name)
        }
        // An embedded database is synced with the instance files by the server's flush
        // (InstanceIndexer durability); a PostgreSQL commit is durable on its server.
        if let local = store as? NodeStore {
            server.alsoDurable = [(local.database.path as NSString).deletingLastPathComponent]
        }
        return server
    }

    /// `name` with every character but letters, digits, `-`, `_` and `.` replaced by `_`.
    static func fileSafe(_ name: String) -> String {
        String(name.map { $0.isLetter || $0.isNumber || "-_.".contains($0) ? $0 : "_" })
    }

    /// Asked for every association request: refused while free disk is
    /// below `storage.min_free_disk_mb` (transient: the modality retries later) and when the peer's
    /// address is outside `node.allowed_sources`.
    static func admission(_ configuration: NodeConfiguration) -> @Sendable (AssociationInfo) -> AssociationAdmission {
        let directory = configuration.storage.directory
        let minimum = configuration.storage.minimumFreeBytes
        let sources = configuration.listener.allowedSources
        return { association in
            if let free = Readiness.freeBytes(at: directory), free < minimum {
                return .refuseResources(
                    reason: "free disk \(free >> 20) MiB is below the threshold \(minimum >> 20) MiB")
            }
            if !sources.allows(association.peer) {
                return .refuseCallingHost(reason: "source address \(association.peer) is not allowed")
            }
            return .admit
        }
    }

    /// The HTTP bearer token from `http.token_file`; like a TLS key, the file must not be
    /// readable by group or others.
    static func readToken(_ path: String) throws -> String {
        let token = try PrivateFile.read(path, file: path, key: "http.token_file")
            .trimmingCharacters(in: .whitespacesAndNewlines)
        guard token.count >= 16 else {
            throw ConfigurationError(
                file: path, line: nil, key: "http.token_file", message: "the token must have at least 16 characters")
        }
        return token
    }

    public func run() async throws {
        try FileManager.default.createDirectory(atPath: instanceDirectory, withIntermediateDirectories: true)
        let store = self.store
        try await store.withRunning(migrating: true) { try await self.runServices() }
    }

    private func runServices() async throws {
        let listener = configuration.listener
        let roles = configuration.cluster.roles
        let audit = try configuration.audit.file.map {
            try AuditTrail(
                path: $0, aeTitle: listener.aeTitle.value, syslog: configuration.audit.syslog, logger: self.logger)
        }
        let store = self.store
        let logger = self.logger
        let metrics = self.metrics
        // Idle workers wake when jobs are queued: by this node's tracker, or (several nodes) by
        // any node's, through the database's NOTIFY.
        let jobsQueued = (store as? PostgreSQLNodeStore)?.jobsQueued ?? WakeSignal()
        var services: [any Service] = []
        if roles.contains(.receive) { services += try receivers(audit: audit) }
        // The sender wakes when a job's results are in the outbox, not at its next poll.
        let resultsQueued = WakeSignal()
        // The tracker looks again at the next quiet deadline (a series is closed the moment its
        // quiet time has passed), and at least every half second.
        let tracker = PeriodicService.dueAt(name: "tracker", interval: .milliseconds(500), logger: logger) {
            let now = Date()
            let jobs = try await store.closeStableSeries(now: now) + store.closeStableStudies(now: now)
            if !jobs.isEmpty { jobsQueued.signal() }
            // One series (or study) gets one job per model of its route.
            let subjects = Set(jobs.map { "\($0.level.rawValue) \($0.subjectUID) \($0.version)" })
            metrics.seriesCompleted.increment(by: Int64(subjects.count))
            metrics.jobsQueued.increment(by: Int64(jobs.count))
            for job in jobs {
                logger.info(
                    "\(job.level.rawValue) stable, job queued",
                    metadata: [
                        "correlation_id": "\(job.correlationID)",
                        "\(job.level.rawValue)_instance_uid": "\(job.subjectUID)",
                        "route": "\(job.route)", "job": "\(job.id ?? 0)", "version": "\(job.version)"
                    ])
            }
            return try await store.nextDeadline(after: Date())
        }
        services.append(tracker)
        // The heartbeat renews this node's job leases; any node puts back the jobs of a node that
        // stopped renewing (nothing to do with one node).
        let lease = configuration.cluster.jobLease
        services.append(
            PeriodicService(name: "heartbeat", interval: .milliseconds(Int64(lease * 1000 / 3)), logger: logger) {
                try await store.heartbeat(now: Date())
                let taken = try await store.reclaimExpiredLeases(maximumAttempts: 3, now: Date())
                if taken.requeued + taken.failed > 0 {
                    logger.warning(
                        "jobs of a node that stopped answering were taken over",
                        metadata: ["requeued": "\(taken.requeued)", "failed": "\(taken.failed)"])
                    jobsQueued.signal()
                }
            })
        if roles.contains(.send) {
            let sender = Sender(
                store: store, configuration: configuration, transport: StorageClientTransport(),
                logger: logger, metrics: metrics, audit: audit)
            services.append(
                PeriodicService(name: "sender", interval: .seconds(1), logger: logger, wake: resultsQueued) {
                    try await sender.sendDue(now: Date())
                })
        }
        logger.info(
            "node starting",
            metadata: [
                "ae_title": "\(listener.aeTitle)",
                "port": "\(listener.plainListener && roles.contains(.receive) ? "\(listener.port)" : "none")",
                "tls_port": "\(listener.tls.map { "\($0.port)" } ?? "none")", "routes": "\(configuration.routes.count)",
                "audit": "\(configuration.audit.file ?? "off")", "node": "\(configuration.cluster.name)",
                "roles": "\(roles.map(\.rawValue).sorted().joined(separator: ","))",
                "database": "\(configuration.storage.postgreSQL?.redacted ?? "sqlite")"
            ])
        try await store.heartbeat(now: Date())
        if let executor {
            let interrupted = try await store.recoverAfterRestart(maximumAttempts: 3, now: Date())
            if interrupted.requeued + interrupted.failed > 0 {
                logger.warning(
                    "jobs interrupted by the last stop",
                    metadata: [
                        "requeued": "\(interrupted.requeued)",
                        "failed": "\(interrupted.failed)"
                    ])
            }
            let runner = JobRunner(
                store: store, configuration: configuration, executor: executor, logger: logger,
                metrics: metrics, resultsQueued: resultsQueued)
            // max_concurrent_jobs forward passes at once, and with overlap_jobs one more worker whose
            // job assembles or encodes meanwhile; each claims jobs in its own transaction, so a job
            // runs once (with several nodes, once in the cluster).
            ForwardPassGate.shared.limit = configuration.maxConcurrentJobs
            // Polling is the fallback when a wake-up is missed: often with one node, every 2 s
            // with several (each poll is a query every node makes).
            let poll: Duration = store is PostgreSQLNodeStore ? .seconds(2) : .milliseconds(500)
            for worker in 0..<configuration.jobWorkers {
                services.append(
                    PeriodicService(name: "jobs-\(worker)", interval: poll, logger: logger, wake: jobsQueued) {
                        try await runner.runQueued()
                    })
            }
        }
        if roles.contains(.http), configuration.http.port != 0 {
            let configuration = self.configuration
            let token = try configuration.http.tokenFile.map(Self.readToken)
            let api = HTTPAPI(
                store: store, metrics: metrics, token: token, aliveWithin: 3 * configuration.cluster.jobLease
            ) {
                await Readiness.check(configuration, store: store)
            }
            services.append(
                Application(
                    router: api.router(),
                    configuration: .init(
                        address: .hostname(
                            configuration.http.bindAddress,
                            port: Int(configuration.http.port))),
                    logger: logger))
        }
        let group = ServiceGroup(services: services, gracefulShutdownSignals: [.sigterm, .sigint], logger: logger)
        await audit?.applicationStarted()
        do {
            try await group.run()
        } catch {
            await audit?.applicationStopped()
            throw error
        }
        await audit?.applicationStopped()
        logger.info("node stopped")
    }

    /// The storage SCPs (plain and TLS listeners) writing through the store and the index.
    private func receivers(audit: AuditTrail?) throws -> [any Service] {
        let listener = configuration.listener
        let store = self.store
        let logger = self.logger
        let metrics = self.metrics
        // An embedded database's index rows are written with deferred durability: the server's
        // flush syncs the database's file system with the instance's (serverConfiguration:
        // alsoDurable). A shared database commits durably itself.
        let indexer = InstanceIndexer(
            store: store, run: InstanceIndexer.run(node: configuration.cluster.name),
            durability: store is NodeStore ? .withNextFlush : .atCommit)
        let admit = Self.admission(configuration)
        var servers: [StorageServer] = []
        for tls in (listener.plainListener ? [nil] : []) + (listener.tls.map { [$0] } ?? []) {
            servers.append(
                try StorageServer(
                    configuration: try serverConfiguration(tls: tls),
                    onInstance: { instance in
                        if case .stored = try indexer.index(instance) { metrics.instancesReceived.increment() }
                    }, admit: admit,
                    associationEnded: { association, normally, how in
                        // docs/node-behaviour.md, Interrupted series: recorded before a release is confirmed.
                        do {
                            try waitFor {
                                try await store.associationEnded(
                                    indexer.associationID(association), normally: normally, how: how,
                                    callingAETitle: association.callingAETitle)
                            }
                        } catch {
                            logger.error(
                                "cannot record how an association ended",
                                metadata: [
                                    "association": "\(association.id)",
                                    "error": "\(error)"
                                ])
                        }
                    }))
        }
        return servers.map { ReceiverService(server: $0, logger: logger, audit: audit, metrics: metrics) }
    }
}
