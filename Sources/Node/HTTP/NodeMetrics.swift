import Foundation
import Prometheus

/// The node's Prometheus metrics. Counters and the inference histogram are
/// updated as events happen; gauges derived from the database (jobs by state, outbox depth,
/// parked entries) are refreshed at scrape time so they are right after a restart.
public final class NodeMetrics: Sendable {
    public let registry = PrometheusCollectorRegistry()
    public let instancesReceived: Counter
    public let seriesCompleted: Counter
    public let connectionsWithoutAssociation: Counter
    public let jobsQueued: Counter
    public let jobsDone: Counter
    public let jobsFailed: Counter
    public let sendsSucceeded: Counter
    public let sendsFailed: Counter
    public let inferenceSeconds: DurationHistogram
    let jobsByState: [JobState: Gauge]
    let outboxDepth: Gauge
    let outboxParked: Gauge
    let oldestQueuedAge: Gauge
    let nodesAlive: Gauge

    public init() {
        func name(_ metric: String, _ unit: String, _ help: String) -> MetricNameDescriptor {
            MetricNameDescriptor(namespace: "mambanode", metricName: metric, unitName: unit, helpText: help)
        }
        instancesReceived = registry.makeCounter(
            descriptor: name(
                "instances_received", "total",
                "Instances stored and acknowledged (duplicates excluded)."))
        seriesCompleted = registry.makeCounter(
            descriptor: name(
                "series_completed", "total",
                "Series (and studies of study-level routes) that became stable and were routed, each once "
                    + "whatever the number of models that run on it."))
        connectionsWithoutAssociation = registry.makeCounter(
            descriptor: name(
                "connections_without_association", "total",
                "TCP connections that ended without a valid A-ASSOCIATE-RQ (health checks, port scans), "
                    + "logged at debug level only."))
        jobsQueued = registry.makeCounter(
            descriptor: name(
                "jobs_queued", "total", "Jobs queued: one per model of the route of each completed series or study."))
        let finished = name("jobs_finished", "total", "Jobs that ended, by result (done or failed).")
        jobsDone = registry.makeCounter(descriptor: finished, labels: [("result", "done")])
        jobsFailed = registry.makeCounter(descriptor: finished, labels: [("result", "failed")])
        let sends = name("sends", "total", "C-STORE attempts of results, by outcome.")
        sendsSucceeded = registry.makeCounter(descriptor: sends, labels: [("result", "ok")])
        sendsFailed = registry.makeCounter(descriptor: sends, labels: [("result", "failed")])
        inferenceSeconds = registry.makeDurationHistogram(
            descriptor: name("inference", "seconds", "Wall time of the inference step per job."),
            buckets: [.seconds(1), .seconds(2), .seconds(5), .seconds(10), .seconds(30), .seconds(60), .seconds(300)])
        var gauges: [JobState: Gauge] = [:]
        let jobs = name("jobs", "", "Jobs by state.")
        for state in [JobState.queued, .processing, .done, .failed] {
            gauges[state] = registry.makeGauge(descriptor: jobs, labels: [("state", state.rawValue)])
        }
        jobsByState = gauges
        outboxDepth = registry.makeGauge(descriptor: name("outbox_pending", "", "Outbox entries waiting to be sent."))
        outboxParked = registry.makeGauge(
            descriptor: name(
                "outbox_parked", "",
                "Outbox entries parked after the give-up time (need `mambanode retry --parked`)."))
        oldestQueuedAge = registry.makeGauge(
            descriptor: name(
                "oldest_queued_job_age", "seconds", "How long the oldest queued job has waited (0 when none waits)."))
        nodesAlive = registry.makeGauge(
            descriptor: name(
                "nodes_alive", "", "Nodes sharing the database whose heartbeat is recent (1 with embedded SQLite)."))
    }

    /// Refreshes the database-derived gauges and renders the exposition format. With several
    /// nodes on one database these gauges are the cluster's (every node shows the same); the
    /// counters are this node's. A node is alive when its heartbeat is at most `aliveWithin`
    /// seconds old.
    public func render(store: any NodeStateStore, aliveWithin: Double, now: Date = Date()) async throws -> String {
        let counts = try await store.counts()
        for (state, gauge) in jobsByState { gauge.set(Double(counts.jobs[state] ?? 0)) }
        outboxDepth.set(Double(counts.outbox[.pending] ?? 0))
        outboxParked.set(Double(counts.outbox[.parked] ?? 0))
        oldestQueuedAge.set(counts.oldestQueuedJob.map { max(0, now.timeIntervalSince($0)) } ?? 0)
        let nodes = try await store.nodes()
        nodesAlive.set(Double(nodes.filter { now.timeIntervalSince($0.heartbeatAt) <= aliveWithin }.count))
        return registry.emitToString()
    }
}
