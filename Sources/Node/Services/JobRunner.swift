import Foundation
import Logging
import Pipeline
import Results

/// What a job produces: files to deliver, each with its SOP Instance UID and kind (which
/// destinations receive it: `destinations[].outputs`).
public struct JobOutput: Sendable {
    public var objects: [(path: String, sopInstanceUID: String, kind: EncodedObject.Kind)]
    /// Seconds per step, for the API and metrics.
    public var timings: [String: Double]
    /// What the job did other than asked, in words (e.g. volume assembly left out a second
    /// stack): shown as the done job's and series' reason in the API and logged
    /// (docs/volume-reconstruction.md).
    public var warnings: [String]

    public init(
        objects: [(path: String, sopInstanceUID: String, kind: EncodedObject.Kind)], timings: [String: Double],
        warnings: [String] = []
    ) {
        self.objects = objects
        self.timings = timings
        self.warnings = warnings
    }
}

/// Runs one job's steps (assemble → preprocess → infer → postprocess → encode). The node's
/// implementation is the inference pipeline; tests use stand-ins.
public protocol JobExecutor: Sendable {
    /// Runs `job` and returns what to send. Throwing fails the job with the error as reason.
    /// `progress` records each step reached (the API shows how far a job got; an interrupted job
    /// starts over, see ``JobStep``).
    func run(_ job: JobRecord, progress: @escaping @Sendable (JobStep) throws -> Void) async throws -> JobOutput
}

/// Takes queued jobs one at a time per worker (the node runs `NodeConfiguration.jobWorkers` of
/// them: the forward passes allowed at once, plus one whose job assembles or encodes meanwhile,
/// docs/node-behaviour.md, Running jobs) and settles each as done (results enqueued for every
/// destination of its route, in the same transaction) or failed with a reason.
public struct JobRunner: Sendable {
    let store: any NodeStateStore
    let configuration: NodeConfiguration
    let executor: any JobExecutor
    let logger: Logger
    let metrics: NodeMetrics?
    /// Signalled when a job's results are in the outbox (wakes the sender).
    let resultsQueued: WakeSignal?

    public init(
        store: any NodeStateStore, configuration: NodeConfiguration, executor: any JobExecutor, logger: Logger,
        metrics: NodeMetrics? = nil, resultsQueued: WakeSignal? = nil
    ) {
        self.store = store
        self.configuration = configuration
        self.executor = executor
        self.logger = logger
        self.metrics = metrics
        self.resultsQueued = resultsQueued
    }

    /// Runs queued jobs until none is left; returns how many ran.
    @discardableResult
    public func runQueued() async throws -> Int {
        var count = 0
        while let job = try await store.claimNextJob(now: Date()) {
            await run(job)
            count += 1
        }
        return count
    }

    func run(_ job: JobRecord) async {
        let id = job.id!
        var logger = self.logger
        logger[metadataKey: "correlation_id"] = "\(job.correlationID)"
        logger[metadataKey: "job"] = "\(id)"
        logger.info(
            "job started",
            metadata: [
                "route": "\(job.route)", "model": "\(job.model)",
                "series_instance_uid": "\(job.subjectUID)", "attempt": "\(job.attempts)"
            ])
        let started = ContinuousClock.now
        do {
            guard let route = configuration.routes.first(where: { $0.name == job.route }) else {
                throw JobFailure("route '\(job.route)' is no longer configured")
            }
            let store = self.store
            let output = try await executor.run(job) { step in try store.recordProgressWaiting(jobID: id, step: step) }
            // The inference pipeline's steps (reorientation … postprocessing), not assembly or encoding.
            let inference = output.timings.filter { InferenceError.Step(rawValue: $0.key) != nil }.values.reduce(0, +)
            if inference > 0 { metrics?.inferenceSeconds.record(.milliseconds(Int64(inference * 1000))) }
            for warning in output.warnings { logger.warning("job warning", metadata: ["warning": "\(warning)"]) }
            // Each destination gets the objects of the kinds it takes; one it no longer has is
            // given everything, and the sender parks it as undeliverable.
            let deliveries = route.destinations.map { name in
                let outputs = configuration.destination(named: name)?.outputs
                return NodeStore.Delivery(
                    destination: name,
                    objects: output.objects.filter { outputs?.contains($0.kind) ?? true }
                        .map { (path: $0.path, sopInstanceUID: $0.sopInstanceUID) })
            }
            try await store.completeJob(
                jobID: id, deliveries: deliveries, timings: output.timings,
                note: output.warnings.isEmpty ? nil : output.warnings.joined(separator: "; "), now: Date())
            resultsQueued?.signal()
            metrics?.jobsDone.increment()
            logger.info(
                "job done",
                metadata: [
                    "objects": "\(output.objects.count)",
                    "seconds": "\(Self.seconds(since: started))"
                ])
        } catch {
            let reason = "\(error)"
            logger.error("job failed", metadata: ["reason": "\(reason)"])
            metrics?.jobsFailed.increment()
            do {
                try await store.failJob(jobID: id, reason: reason, now: Date())
            } catch {
                logger.critical("cannot record job failure", metadata: ["error": "\(error)"])
            }
        }
    }

    static func seconds(since start: ContinuousClock.Instant) -> String {
        let d = ContinuousClock.now - start
        return String(format: "%.2f", Double(d.components.seconds) + Double(d.components.attoseconds) / 1e18)
    }
}
