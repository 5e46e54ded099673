import DICOM
import Foundation
import Hummingbird
import Logging
import ServiceLifecycle

/// The node's services under one lifecycle (issue 6, item 3): the receiver writing through the
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
    public init(configuration: NodeConfiguration, logger: Logger = Logger(label: "mambanode"),
                makeExecutor: (NodeStore) throws -> (any JobExecutor)?) throws {
        self.configuration = configuration
        self.logger = logger
        store = NodeStore(database: try NodeDatabase(path: configuration.storage.databasePath),
                          router: Router(routes: configuration.routes))
        executor = try makeExecutor(store)
    }

    /// The node with the inference pipeline as executor (what `mambanode serve` runs).
    public static func withPipeline(configuration: NodeConfiguration, logger: Logger = Logger(label: "mambanode")) throws -> NodeServer {
        try NodeServer(configuration: configuration, logger: logger) { store in
            try PipelineExecutor(configuration: configuration, store: store,
                                 encoder: try NodeIdentity.encoderConfiguration(aeTitle: configuration.listener.aeTitle))
        }
    }

    /// Where received instances are kept.
    public var instanceDirectory: String { configuration.storage.directory + "/instances" }

    public func run() async throws {
        try FileManager.default.createDirectory(atPath: instanceDirectory, withIntermediateDirectories: true)
        let listener = configuration.listener
        var serverConfiguration = StorageServerConfiguration(
            aeTitle: try AETitle(listener.aeTitle), port: listener.port, storeDirectory: instanceDirectory,
            callingAETitles: listener.acceptAnyCallingAE ? .acceptAny
                : .allowList(Set(try listener.allowedCallingAETitles.map { title throws(DICOMError) in try AETitle(title) })))
        serverConfiguration.maxAssociations = listener.maxAssociations
        let indexer = InstanceIndexer(store: store)
        let metrics = self.metrics
        let server = try StorageServer(configuration: serverConfiguration) { instance in
            if case .stored = try indexer.index(instance) { metrics.instancesReceived.increment() }
        }
        let store = self.store
        let sender = Sender(store: store, configuration: configuration, transport: StorageClientTransport(),
                            logger: logger, metrics: metrics)
        let logger = self.logger
        let tracker = PeriodicService(name: "tracker", interval: .milliseconds(500), logger: logger) {
            let now = Date()
            for job in try store.closeStableSeries(now: now) + store.closeStableStudies(now: now) {
                metrics.seriesCompleted.increment()
                logger.info("\(job.level) stable, job queued", metadata: [
                    "correlation_id": "\(job.correlationID)", "\(job.level)_instance_uid": "\(job.subjectUID)",
                    "route": "\(job.route)", "job": "\(job.id ?? 0)", "version": "\(job.version)",
                ])
            }
        }
        let sending = PeriodicService(name: "sender", interval: .seconds(1), logger: logger) {
            try await sender.sendDue(now: Date())
        }
        logger.info("node starting", metadata: ["ae_title": "\(listener.aeTitle)", "port": "\(listener.port)",
                                                "routes": "\(configuration.routes.count)"])
        var services: [any Service] = [ReceiverService(server: server, logger: logger), tracker, sending]
        if let executor {
            let interrupted = try store.requeueInterruptedJobs(maximumAttempts: 3, now: Date())
            if interrupted.requeued + interrupted.failed > 0 {
                logger.warning("jobs interrupted by the last stop", metadata: ["requeued": "\(interrupted.requeued)",
                                                                               "failed": "\(interrupted.failed)"])
            }
            let runner = JobRunner(store: store, configuration: configuration, executor: executor, logger: logger,
                                   metrics: metrics)
            // max_concurrent_jobs workers; each claims jobs in its own transaction, so a job runs once.
            for worker in 0..<configuration.maxConcurrentJobs {
                services.append(PeriodicService(name: "jobs-\(worker)", interval: .milliseconds(500), logger: logger) {
                    try await runner.runQueued()
                })
            }
        }
        if configuration.http.port != 0 {
            let configuration = self.configuration
            let api = HTTPAPI(store: store, metrics: metrics) { Readiness.check(configuration, store: store) }
            services.append(Application(router: api.router(),
                                        configuration: .init(address: .hostname(configuration.http.bindAddress,
                                                                                port: Int(configuration.http.port))),
                                        logger: logger))
        }
        let group = ServiceGroup(services: services, gracefulShutdownSignals: [.sigterm, .sigint], logger: logger)
        try await group.run()
        logger.info("node stopped")
    }
}
