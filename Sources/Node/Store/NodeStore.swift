import Foundation
import GRDB

/// What the receiver learned about a stored instance, for the index and the tracker.
public struct InstanceArrival: Sendable {
    public var record: InstanceRecord
    /// The instance count the data announces for its series, if any.
    public var expectedCount: Int?
    public var routing: RoutingInput

    public init(record: InstanceRecord, expectedCount: Int?, routing: RoutingInput) {
        self.record = record
        self.expectedCount = expectedCount
        self.routing = routing
    }
}

/// The node's state transitions in embedded SQLite, each one database transaction: the store of a
/// single node (`NodeStateStore`; docs/cluster.md has the PostgreSQL one for several nodes).
/// Synchronous: its methods answer the protocol's asynchronous requirements as they are.
public final class NodeStore: NodeStateStore {
    public let database: NodeDatabase
    public let router: Router
    public let name: String
    let startedAt = Date()

    public init(database: NodeDatabase, router: Router, name: String = NodeStore.defaultName) {
        self.database = database
        self.router = router
        self.name = name
    }

    /// `node.name` when not configured: the host's name.
    public static var defaultName: String { ProcessInfo.processInfo.hostName }

    public enum RecordOutcome: Sendable, Equatable {
        /// First time this SOP Instance UID was seen.
        case stored(SeriesRecord)
        /// Already stored: answered with success, stored once.
        case duplicate
    }

    /// When a recorded state change reaches the disk.
    public enum Durability: Sendable {
        /// At commit (`synchronous = FULL`).
        case atCommit
        /// At the caller's next flush of the database's file system (`synchronous = NORMAL`: the
        /// write-ahead log is written at commit and synced by the storage server's `syncfs`
        /// with the instance files, docs/architecture.md, Data flow).
        case withNextFlush
    }

    /// Indexes a received instance and updates its series in one transaction. Call after the
    /// file is linked into the store and before the flush and the C-STORE response.
    @discardableResult
    public func record(
        _ instance: InstanceArrival, correlationID: String, durability: Durability = .atCommit
    ) throws -> RecordOutcome {
        guard durability == .withNextFlush else { return try recordTransaction(instance, correlationID: correlationID) }
        return try database.writer.writeWithoutTransaction { db in
            try db.execute(sql: "PRAGMA synchronous = NORMAL")
            defer { try? db.execute(sql: "PRAGMA synchronous = FULL") }
            var outcome: RecordOutcome = .duplicate
            try db.inTransaction {
                outcome = try self.recordTransaction(instance, correlationID: correlationID, db)
                return .commit
            }
            return outcome
        }
    }

    public func recordWaiting(
        _ instance: InstanceArrival, correlationID: String, durability: Durability
    ) throws -> RecordOutcome {
        try record(instance, correlationID: correlationID, durability: durability)
    }

    private func recordTransaction(_ instance: InstanceArrival, correlationID: String) throws -> RecordOutcome {
        try database.writer.write { db in try recordTransaction(instance, correlationID: correlationID, db) }
    }

    private func recordTransaction(
        _ instance: InstanceArrival, correlationID: String, _ db: Database
    ) throws -> RecordOutcome {
        let router = self.router
        if let stored = try InstanceRecord.fetchOne(db, key: instance.record.sopInstanceUID) {
            if var series = try SeriesRecord.fetchOne(db, key: stored.seriesInstanceUID) {
                let before = series
                series.instanceRepeated(association: instance.record.associationID)
                if series != before { try series.update(db) }
            }
            return .duplicate
        }
        try instance.record.insert(db)
        let now = instance.record.receivedAt
        var series: SeriesRecord
        let actions: [SeriesRecord.Action]
        if let existing = try SeriesRecord.fetchOne(db, key: instance.record.seriesInstanceUID) {
            series = existing
            actions = series.instanceArrived(
                at: now, expectedCount: instance.expectedCount,
                association: instance.record.associationID,
                route: router.route(named: series.route),
                unroutedQuiet: router.unroutedQuietTime)
            try series.update(db)
        } else {
            let route = router.route(for: instance.routing)
            (series, actions) = SeriesRecord.started(
                uid: instance.record.seriesInstanceUID, study: instance.record.studyInstanceUID, route: route,
                unroutedQuiet: router.unroutedQuietTime,
                channel: route.flatMap { Router.channel(of: $0, for: instance.routing)?.name },
                reason: route == nil ? router.unmatchedReason(instance.routing) : nil,
                expectedCount: instance.expectedCount, association: instance.record.associationID, at: now,
                correlationID: correlationID)
            try series.insert(db)
        }
        try Self.perform(actions, for: series, db, router: router, now: now)
        return .stored(series)
    }

    /// Series that are receiving.
    public func receivingSeries() throws -> [SeriesRecord] {
        try database.writer.read { db in
            try SeriesRecord.filter(Column("state") == SeriesState.receiving.rawValue).fetchAll(db)
        }
    }

    /// Closes every series that is complete at `now`: series-level routes get a queued job per
    /// model, study-level ones wait for their study, unrouted series become `unrouted`. Returns
    /// the jobs created. One transaction per series.
    @discardableResult
    public func closeStableSeries(now: Date) throws -> [JobRecord] {
        var jobs: [JobRecord] = []
        for series in try receivingSeries()
        where series.completion(at: now, route: router.route(named: series.route)) != nil {
            jobs += try close(series: series.seriesInstanceUID, now: now)
        }
        return jobs
    }

    private func close(series uid: String, now: Date) throws -> [JobRecord] {
        let router = self.router
        return try database.writer.write { db -> [JobRecord] in
            // Re-read inside the transaction: an instance may have arrived meanwhile.
            guard var series = try SeriesRecord.fetchOne(db, key: uid) else { return [] }
            let route = router.route(named: series.route)
            guard let completion = series.completion(at: now, route: route) else { return [] }
            let actions = try series.complete(completion, route: route)
            try series.update(db)
            return try Self.perform(actions, for: series, db, router: router, now: now)
        }
    }

    /// An association ended (docs/node-behaviour.md, Interrupted series): every receiving series
    /// it added instances to learns how. `normally`: A-RELEASE; otherwise an A-ABORT from either
    /// side or a lost connection, described by `how` (e.g. "aborted by peer"), which the series'
    /// interruption repeats with the calling AE title and the count this association sent.
    public func associationEnded(_ association: String, normally: Bool, how: String, callingAETitle: String) throws {
        let router = self.router
        try database.writer.write { db in
            // The series it stored instances of, and those it only re-sent known instances of.
            var sent: [String: Int] = [:]
            for row in try Row.fetchAll(
                db,
                sql: """
                    SELECT seriesInstanceUID, COUNT(*) AS n FROM instance WHERE associationID = ? GROUP BY seriesInstanceUID
                    """, arguments: [association])
            {
                sent[row["seriesInstanceUID"]] = row["n"]
            }
            for uid in try String.fetchAll(
                db,
                SeriesRecord.select(Column("seriesInstanceUID"))
                    .filter(Column("feedingAssociation") == association)) where sent[uid] == nil
            {
                sent[uid] = 0
            }
            for (uid, count) in sent {
                guard var series = try SeriesRecord.fetchOne(db, key: uid), series.state == .receiving else { continue }
                let description =
                    "the association from \(callingAETitle) that sent \(count) new instance\(count == 1 ? "" : "s")"
                    + " of it ended abnormally (\(how))"
                series.associationEnded(
                    association, normally: normally, how: description,
                    route: router.route(named: series.route), unroutedQuiet: router.unroutedQuietTime)
                try series.update(db)
            }
        }
    }

    /// Carries out what a series event asked for, in the event's transaction; returns the jobs created.
    @discardableResult
    static func perform(
        _ actions: [SeriesRecord.Action], for series: SeriesRecord, _ db: Database, router: Router,
        now: Date
    ) throws -> [JobRecord] {
        var jobs: [JobRecord] = []
        for action in actions {
            switch action {
            case .queueJobs(let route, let models, let caveats):
                for var job in series.queuedJobs(route: route, models: models, caveats: caveats, at: now) {
                    try job.insert(db)
                    jobs.append(job)
                }
            case .touchStudy(let name):
                guard let route = router.route(named: name) else { continue }
                let existing = try StudyRecord.fetchOne(db, key: series.studyInstanceUID)
                let study = StudyRecord.touched(existing, by: series, route: route, at: now)
                if existing == nil { try study.insert(db) } else { try study.update(db) }
            }
        }
        return jobs
    }

    /// The instances of a series, in no particular order.
    public func instances(ofSeries uid: String) throws -> [InstanceRecord] {
        try database.writer.read { db in
            try InstanceRecord.filter(Column("seriesInstanceUID") == uid).fetchAll(db)
        }
    }

    public func allSeries() throws -> [SeriesRecord] {
        try database.writer.read { db in try SeriesRecord.order(Column("firstReceivedAt")).fetchAll(db) }
    }

    public func deliveredJobs(since: Date) throws -> [DeliveredJob] {
        try database.writer.read { db in
            try Row.fetchAll(db, sql: DeliveredJob.query(since: "?"), arguments: [since]).map { row in
                DeliveredJob(model: row[0], lastReceivedAt: row[1], deliveredAt: row[2])
            }
        }
    }

    public func series(_ listing: Listing) throws -> [SeriesRecord] {
        try database.writer.read { db in try Self.list(SeriesRecord.self, .series, listing, db) }
    }

    public func jobs(_ listing: Listing) throws -> [JobRecord] {
        try database.writer.read { db in try Self.list(JobRecord.self, .job, listing, db) }
    }

    public func outbox(_ listing: Listing) throws -> [OutboxRecord] {
        try database.writer.read { db in try Self.list(OutboxRecord.self, .outbox, listing, db) }
    }

    static func list<R: FetchableRecord>(
        _ type: R.Type, _ table: Listing.Table, _ listing: Listing, _ db: Database
    )
        throws -> [R]
    {
        let (clauses, parameters) = listing.clauses(table, .sqlite)
        return try R.fetchAll(
            db, sql: "SELECT t.* FROM \(table.name) t" + clauses, arguments: StatementArguments(parameters))
    }

    public func series(_ uid: String) throws -> SeriesRecord? {
        try database.writer.read { db in try SeriesRecord.fetchOne(db, key: uid) }
    }

    public func jobs(state: JobState? = nil) throws -> [JobRecord] {
        try database.writer.read { db in
            var request = JobRecord.order(Column("id"))
            if let state { request = request.filter(Column("state") == state.rawValue) }
            return try request.fetchAll(db)
        }
    }
}

extension NodeStore {
    public struct Counts: Sendable {
        public var jobs: [JobState: Int]
        public var outbox: [OutboxState: Int]
        /// When the oldest queued job was queued; nil when none is.
        public var oldestQueuedJob: Date?
    }

    /// Jobs and outbox entries by state, for metrics.
    public func counts() throws -> Counts {
        try database.writer.read { db in
            var jobs: [JobState: Int] = [:]
            for row in try Row.fetchAll(db, sql: "SELECT state, COUNT(*) AS n FROM job GROUP BY state") {
                if let state = JobState(rawValue: row["state"]) { jobs[state] = row["n"] }
            }
            var outbox: [OutboxState: Int] = [:]
            for row in try Row.fetchAll(db, sql: "SELECT state, COUNT(*) AS n FROM outbox GROUP BY state") {
                if let state = OutboxState(rawValue: row["state"]) { outbox[state] = row["n"] }
            }
            let oldest = try Date.fetchOne(
                db, sql: "SELECT MIN(createdAt) FROM job WHERE state = ?", arguments: [JobState.queued.rawValue])
            return Counts(jobs: jobs, outbox: outbox, oldestQueuedJob: oldest)
        }
    }
}

// MARK: - Jobs

extension NodeStore {
    /// Takes the oldest queued job for processing (one transaction): queued → processing,
    /// attempts + 1, this node as its holder, and its subject follows. Nil when none is queued.
    public func claimNextJob(now: Date) throws -> JobRecord? {
        try database.writer.write { db -> JobRecord? in
            guard
                var job = try JobRecord.filter(Column("state") == JobState.queued.rawValue)
                    .order(Column("id")).fetchOne(db)
            else { return nil }
            try job.claim(at: now)
            job.leaseOwner = name
            try job.update(db)
            try Self.updateSubject(of: job, db) { series throws(LifecycleError) in
                try series.jobClaimed()
            } study: { study throws(LifecycleError) in
                try study.jobClaimed()
            }
            return job
        }
    }

    /// One node: no leases to renew or to find expired (a restart recovers what it left).
    public func heartbeat(now: Date) {}

    public func reclaimExpiredLeases(maximumAttempts: Int, now: Date) -> (requeued: Int, failed: Int) { (0, 0) }

    /// The one node sends for every destination.
    public func holdsSender(for destination: String) async -> Bool { true }

    public func withRunning<T: Sendable>(migrating: Bool, _ body: @Sendable () async throws -> T) async throws -> T {
        try await body()
    }

    public func nodes() -> [NodeRecord] {
        [NodeRecord(name: name, roles: NodeRole.allCases.map(\.rawValue), startedAt: startedAt, heartbeatAt: Date())]
    }

    public func recordProgressWaiting(jobID: Int64, step: JobStep) throws {
        try recordProgress(jobID: jobID, step: step)
    }

    /// Records that a running job reached `step` (the API shows it; a restarted job starts over).
    public func recordProgress(jobID: Int64, step: JobStep) throws {
        try database.writer.write { db in
            guard var job = try JobRecord.fetchOne(db, key: jobID) else { return }
            try job.reach(step)
            try job.update(db)
        }
    }

    /// Finishes a job: its outbox entries, the job and its subject change in one transaction, so
    /// a crash leaves either nothing or everything to send.
    /// `note` (warnings of a job that still produced its results) becomes the job's and its
    /// subject's reason, so the API shows why e.g. only part of a series was used.
    public func completeJob(
        jobID: Int64, deliveries: [Delivery], timings: [String: Double], note: String? = nil, now: Date
    ) throws {
        try database.writer.write { db in
            guard var job = try JobRecord.fetchOne(db, key: jobID) else { return }
            try job.complete(at: now, timings: timings, note: note)
            for delivery in deliveries {
                try Self.enqueue(
                    delivery.objects, [delivery.destination], jobID: jobID, correlationID: job.correlationID, now: now,
                    db)
            }
            try job.update(db)
            try Self.settleSubject(of: job, db)
        }
    }

    /// completeJob with every object for every destination.
    public func completeJob(
        jobID: Int64, objects: [(path: String, sopInstanceUID: String)], destinations: [String],
        timings: [String: Double], note: String? = nil, now: Date
    ) throws {
        try completeJob(
            jobID: jobID, deliveries: destinations.map { Delivery(destination: $0, objects: objects) },
            timings: timings, note: note, now: now)
    }

    /// What one destination receives of a job's results.
    public struct Delivery: Sendable {
        public var destination: String
        public var objects: [(path: String, sopInstanceUID: String)]

        public init(destination: String, objects: [(path: String, sopInstanceUID: String)]) {
            self.destination = destination
            self.objects = objects
        }
    }

    /// Fails a job with a reason (shown in the API and the log); its subject fails with it.
    public func failJob(jobID: Int64, reason: String, now: Date) throws {
        try database.writer.write { db in
            guard var job = try JobRecord.fetchOne(db, key: jobID) else { return }
            try job.fail(at: now, reason: reason)
            try job.update(db)
            try Self.settleSubject(of: job, db)
        }
    }

    /// The subject follows its jobs — those of the same version and route, one per model: while
    /// a sibling is still queued or running it stays processing; then it is failed if any job
    /// failed, else done.
    private static func settleSubject(of job: JobRecord, _ db: Database) throws {
        let siblings = try JobRecord.filter(
            Column("subjectUID") == job.subjectUID && Column("version") == job.version
                && Column("route") == job.route
        ).order(Column("id")).fetchAll(db)
        try updateSubject(of: job, db) { series throws(LifecycleError) in
            try series.jobEnded(siblings: siblings)
        } study: { study throws(LifecycleError) in
            try study.jobEnded(siblings: siblings)
        }
    }

    /// Applies an event to a job's subject: its series (when still at the job's version), or its
    /// study (likewise) and the study's input series that are still queued or processing. A
    /// subject that a late instance re-opened meanwhile is receiving a newer version and is left
    /// alone.
    private static func updateSubject(
        of job: JobRecord, _ db: Database,
        series event: (inout SeriesRecord) throws(LifecycleError) -> Void,
        study studyEvent: (inout StudyRecord) throws(LifecycleError) -> Void
    ) throws {
        switch job.level {
        case .series:
            guard var series = try SeriesRecord.fetchOne(db, key: job.subjectUID), series.version == job.version,
                series.state != .receiving
            else { return }
            try event(&series)
            try series.update(db)
        case .study:
            if var study = try StudyRecord.fetchOne(db, key: job.subjectUID), study.version == job.version,
                study.state != .receiving
            {
                try studyEvent(&study)
                try study.update(db)
            }
            let inputs = Array(Set(job.inputs.values.joined()))
            for var series in try SeriesRecord.filter(keys: inputs).fetchAll(db)
            where series.state == .queued || series.state == .processing {
                try event(&series)
                try series.update(db)
            }
        }
    }

    /// After a stop or crash: jobs left `processing` are queued to start over (or fail after
    /// `maximumAttempts`), and series still arriving get a fresh quiet time counted from now.
    @discardableResult
    public func recoverAfterRestart(maximumAttempts: Int, now: Date) throws -> (requeued: Int, failed: Int) {
        let router = self.router
        return try database.writer.write { db in
            var requeued = 0, failed = 0
            for var job in try JobRecord.filter(Column("state") == JobState.processing.rawValue).fetchAll(db) {
                switch try job.nodeRestarted(at: now, maximumAttempts: maximumAttempts) {
                case .requeued:
                    requeued += 1
                    try job.update(db)
                case .failed:
                    failed += 1
                    try job.update(db)
                    try Self.settleSubject(of: job, db)
                }
            }
            for var series in try SeriesRecord.filter(Column("state") == SeriesState.receiving.rawValue).fetchAll(db) {
                series.nodeRestarted(
                    at: now, route: router.route(named: series.route),
                    unroutedQuiet: router.unroutedQuietTime)
                try series.update(db)
            }
            return (requeued, failed)
        }
    }
}
