import Foundation
import Synchronization

/// The node's durable state, as the services above it use it: every method is one transaction
/// (docs/cluster.md, The store). Two implementations: `NodeStore` (embedded SQLite, one node, the
/// default) and `PostgreSQLNodeStore` (several nodes sharing one PostgreSQL database). The node does
/// not know which it has.
///
/// Every state change is a pure lifecycle event (`Sources/Node/Lifecycle`) loaded, applied and
/// saved inside the implementation's transaction, so both stores move through the same states.
public protocol NodeStateStore: Sendable {
    var router: Router { get }

    /// This node's name: recorded as the holder of the jobs it claims (`node.name`).
    var name: String { get }

    // MARK: Receiving

    /// Indexes a received instance and updates its series in one transaction. Call after the
    /// file is linked into the store and before the flush and the C-STORE response.
    func record(
        _ instance: InstanceArrival, correlationID: String, durability: NodeStore.Durability
    ) async throws -> NodeStore.RecordOutcome

    /// `record` for a caller on a thread of its own that waits for the answer (the storage
    /// server's worker threads, never the cooperative pool).
    func recordWaiting(
        _ instance: InstanceArrival, correlationID: String, durability: NodeStore.Durability
    ) throws -> NodeStore.RecordOutcome

    /// An association ended (docs/node-behaviour.md, Interrupted series).
    func associationEnded(_ association: String, normally: Bool, how: String, callingAETitle: String) async throws

    /// Closes every series complete at `now`; returns the jobs created.
    func closeStableSeries(now: Date) async throws -> [JobRecord]

    /// Closes the studies of study-level routes that are complete at `now`; returns the jobs created.
    func closeStableStudies(now: Date) async throws -> [JobRecord]

    /// The earliest quiet, grace, hard-cap or give-up deadline after `now` of a series or study
    /// still receiving: when the tracker should look next. Deadlines already passed are left out
    /// (a study past its quiet time may still wait for a channel), so the tracker never spins.
    func nextDeadline(after now: Date) async throws -> Date?

    // MARK: Jobs

    /// Takes the oldest queued job (queued → processing) for this node; nil when none is queued.
    /// A store shared by several nodes gives each job to one node, with a lease.
    func claimNextJob(now: Date) async throws -> JobRecord?

    func recordProgress(jobID: Int64, step: JobStep) async throws

    /// `recordProgress` for a job's own thread, which waits for the answer.
    func recordProgressWaiting(jobID: Int64, step: JobStep) throws

    /// Finishes a job: its outbox entries, the job and its subject in one transaction.
    func completeJob(
        jobID: Int64, deliveries: [NodeStore.Delivery], timings: [String: Double], note: String?, now: Date
    ) async throws

    func failJob(jobID: Int64, reason: String, now: Date) async throws

    /// This node is alive: its heartbeat, and the leases of the jobs it is running extended (a
    /// store of one node has nothing to do).
    func heartbeat(now: Date) async throws

    /// Jobs whose node stopped answering (lease expired) are queued again or, after
    /// `maximumAttempts`, failed; returns how many of each. A store without leases finds none.
    func reclaimExpiredLeases(maximumAttempts: Int, now: Date) async throws -> (requeued: Int, failed: Int)

    /// At this node's start: what it left processing is queued again (or failed after
    /// `maximumAttempts`); series still arriving get a fresh quiet time.
    func recoverAfterRestart(maximumAttempts: Int, now: Date) async throws -> (requeued: Int, failed: Int)

    // MARK: Sending

    func dueOutboxEntries(now: Date, limit: Int) async throws -> [OutboxRecord]

    @discardableResult
    func recordAttempt(
        entryID: Int64, outcome: NodeStore.SendOutcome, policy: RetryPolicy, now: Date, seconds: Double?,
        unit: Double
    ) async throws -> OutboxRecord?

    /// Whether this node sends for `destination` now: always with one node; with several, the one
    /// that holds the destination's lock (docs/cluster.md, One sender per destination).
    func holdsSender(for destination: String) async -> Bool

    @discardableResult
    func retryParked(jobID: Int64?, now: Date) async throws -> Int

    // MARK: Reading

    func instances(ofSeries uid: String) async throws -> [InstanceRecord]
    func allSeries() async throws -> [SeriesRecord]
    func series(_ uid: String) async throws -> SeriesRecord?
    func jobs(state: JobState?) async throws -> [JobRecord]
    func outbox(state: OutboxState?) async throws -> [OutboxRecord]
    /// Jobs whose results were all delivered, the last at or after `since` (``DeliveredJob``).
    func deliveredJobs(since: Date) async throws -> [DeliveredJob]
    /// A page of series, jobs or outbox entries, filtered (``Listing``).
    func series(_ listing: Listing) async throws -> [SeriesRecord]
    func jobs(_ listing: Listing) async throws -> [JobRecord]
    func outbox(_ listing: Listing) async throws -> [OutboxRecord]
    func counts() async throws -> NodeStore.Counts

    /// The nodes sharing the store and when each was last heard from; one entry with one node.
    func nodes() async throws -> [NodeRecord]

    /// Runs `body` with the store's connections open (and, with `migrating`, its schema brought up
    /// to date first); an embedded store just runs it.
    func withRunning<T: Sendable>(migrating: Bool, _ body: @Sendable () async throws -> T) async throws -> T
}

/// A node of the cluster, as the shared store knows it.
public struct NodeRecord: Codable, Sendable, Equatable {
    public var name: String
    public var roles: [String]
    public var startedAt: Date
    public var heartbeatAt: Date

    public init(name: String, roles: [String], startedAt: Date, heartbeatAt: Date) {
        self.name = name
        self.roles = roles
        self.startedAt = startedAt
        self.heartbeatAt = heartbeatAt
    }
}

extension NodeStateStore {
    public func recordWaiting(
        _ instance: InstanceArrival, correlationID: String, durability: NodeStore.Durability
    ) throws -> NodeStore.RecordOutcome {
        try waitFor { try await self.record(instance, correlationID: correlationID, durability: durability) }
    }

    public func recordProgressWaiting(jobID: Int64, step: JobStep) throws {
        try waitFor { try await self.recordProgress(jobID: jobID, step: step) }
    }
}

/// Runs `body` on the cooperative pool and blocks the calling thread until it is done: for code
/// on a thread of its own (DCMTK's workers) that must wait for an asynchronous store. Never call
/// it from a task: a blocked pool thread can starve the task it waits for.
func waitFor<T: Sendable>(_ body: @escaping @Sendable () async throws -> T) throws -> T {
    let done = DispatchSemaphore(value: 0)
    let result = Mutex<Result<T, any Error>?>(nil)
    Task {
        let outcome: Result<T, any Error>
        do { outcome = .success(try await body()) } catch { outcome = .failure(error) }
        result.withLock { $0 = outcome }
        done.signal()
    }
    done.wait()
    return try result.withLock { $0! }.get()
}
