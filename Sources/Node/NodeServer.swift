import DICOM
import DICOMNetwork
import Foundation
import Hummingbird
import Logging
import Pipeline
import ServiceLifecycle

/// The node's services under one lifecycle: the receiver writing through the
/// store and index, the series tracker and the sender. Stopped gracefully on SIGTERM/SIGINT.
public struct NodeServer: Sendable {
    public let configuration: NodeConfiguration
    public let store: NodeStore
    public let metrics = NodeMetrics()
    let logger: Logger

    /// Runs the jobs; nil leaves queued jobs queued (durably) until a node with an executor runs.
    let executor: (any JobExecutor)?

    /// - Parameter makeExecutor: builds the job executor over the node's store; returning nil
    ///   leaves jobs queued.
    public init(
        configuration: NodeConfiguration, logger: Logger = Logger(label: "mambanode"),
        makeExecutor: (NodeStore) throws -> (any JobExecutor)?
    ) throws {
        self.configuration = configuration
        self.logger = logger
        store = NodeStore(
            database: try NodeDatabase(path: configuration.storage.databasePath),
            router: Router(configuration))
        executor = try makeExecutor(store)
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
        server.alsoDurable = [(store.database.path as NSString).deletingLastPathComponent]
        return server
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
        let attributes = try FileManager.default.attributesOfItem(atPath: path)
        if let mode = attributes[.posixPermissions] as? Int, mode & 0o077 != 0 {
            throw ConfigurationError(
                file: path, line: nil, key: "http.token_file",
                message: "is accessible by group or others (mode \(String(mode, radix: 8))); chmod 600 it")
        }
        let token = try String(contentsOfFile: path, encoding: .utf8).trimmingCharacters(in: .whitespacesAndNewlines)
        guard token.count >= 16 else {
            throw ConfigurationError(
                file: path, line: nil, key: "http.token_file", message: "the token must have at least 16 characters")
        }
        return token
    }

    public func run() async throws {
        try FileManager.default.createDirectory(atPath: instanceDirectory, withIntermediateDirectories: true)
        let listener = configuration.listener
        let audit = try configuration.audit.file.map {
            try AuditTrail(
                path: $0, aeTitle: listener.aeTitle.value, syslog: configuration.audit.syslog, logger: self.logger)
        }
        let store = self.store
        let logger = self.logger
        // Index rows are written with deferred durability: the server's flush syncs the
        // database's file system with the instance's (serverConfiguration: alsoDurable).
        let indexer = InstanceIndexer(store: store, durability: .withNextFlush)
        let metrics = self.metrics
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
                            try store.associationEnded(
                                indexer.associationID(association), normally: normally, how: how,
                                callingAETitle: association.callingAETitle)
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
        let token = try configuration.http.tokenFile.map(Self.readToken)
        let sender = Sender(
            store: store, configuration: configuration, transport: StorageClientTransport(),
            logger: logger, metrics: metrics, audit: audit)
        let tracker = PeriodicService(name: "tracker", interval: .milliseconds(500), logger: logger) {
            let now = Date()
            let jobs = try store.closeStableSeries(now: now) + store.closeStableStudies(now: now)
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
        }
        let sending = PeriodicService(name: "sender", interval: .seconds(1), logger: logger) {
            try await sender.sendDue(now: Date())
        }
        logger.info(
            "node starting",
            metadata: [
                "ae_title": "\(listener.aeTitle)", "port": "\(listener.plainListener ? "\(listener.port)" : "none")",
                "tls_port": "\(listener.tls.map { "\($0.port)" } ?? "none")", "routes": "\(configuration.routes.count)",
                "audit": "\(configuration.audit.file ?? "off")"
            ])
        var services: [any Service] = servers.map {
            ReceiverService(server: $0, logger: logger, audit: audit, metrics: metrics)
        }
        services += [tracker, sending]
        if let executor {
            let interrupted = try store.recoverAfterRestart(maximumAttempts: 3, now: Date())
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
                metrics: metrics)
            // max_concurrent_jobs forward passes at once, and with overlap_jobs one more worker whose
            // job assembles or encodes meanwhile; each claims jobs in its own transaction, so a job
            // runs once.
            ForwardPassGate.shared.limit = configuration.maxConcurrentJobs
            for worker in 0..<configuration.jobWorkers {
                services.append(
                    PeriodicService(name: "jobs-\(worker)", interval: .milliseconds(500), logger: logger) {
                        try await runner.runQueued()
                    })
            }
        }
        if configuration.http.port != 0 {
            let configuration = self.configuration
            let api = HTTPAPI(store: store, metrics: metrics, token: token) {
                Readiness.check(configuration, store: store)
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
}
