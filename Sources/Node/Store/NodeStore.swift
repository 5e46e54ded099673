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

/// The node's state transitions, each one database transaction. Narrow on purpose: a PostgreSQL
/// implementation for several nodes (docs/architecture.md, Beyond one machine) implements the same
/// operations.
public final class NodeStore: Sendable {
    public let database: NodeDatabase
    public let router: Router

    public init(database: NodeDatabase, router: Router) {
        self.database = database
        self.router = router
    }

    public enum RecordOutcome: Sendable, Equatable {
        /// First time this SOP Instance UID was seen.
        case stored(SeriesRecord)
        /// Already stored: answered with success, stored once.
        case duplicate
    }

    /// Indexes a received instance and updates its series in one transaction. Call after the
    /// file is fsync'd in the store and before the C-STORE response.
    @discardableResult
    public func record(_ instance: InstanceArrival, correlationID: String) throws -> RecordOutcome {
        let router = self.router
        return try database.writer.write { db in
            if try InstanceRecord.exists(db, key: instance.record.sopInstanceUID) { return .duplicate }
            try instance.record.insert(db)
            let now = instance.record.receivedAt
            if var series = try SeriesRecord.fetchOne(db, key: instance.record.seriesInstanceUID) {
                let route = router.routes.first { $0.name == series.route }
                series.instanceCount += 1
                series.lastReceivedAt = max(series.lastReceivedAt, now)
                if let expected = instance.expectedCount { series.expectedCount = expected }
                switch series.state {
                case .receiving, .unrouted:
                    break
                case .stable:
                    // Complete but not yet processed (waiting for the rest of its study): it is
                    // simply still arriving.
                    series.state = .receiving
                case .queued, .processing, .done, .failed:
                    // A late instance re-opens the series: it will be processed again as a new
                    // result version (docs/node-behaviour.md, Series completion), never silently
                    // dropped.
                    series.state = .receiving
                    series.version += 1
                    series.reason = nil
                    series.firstReceivedAt = now
                }
                let deadlines = SeriesLifecycle.deadlines(route: route, firstReceivedAt: series.firstReceivedAt,
                                                          lastReceivedAt: series.lastReceivedAt)
                series.quietDeadline = deadlines.quiet
                series.hardDeadline = deadlines.hard
                try series.update(db)
                if let route, route.level == .study {
                    try Self.touchStudy(db, uid: series.studyInstanceUID, route: route, now: now, correlationID: series.correlationID)
                }
                return .stored(series)
            }
            let route = router.route(for: instance.routing)
            let deadlines = SeriesLifecycle.deadlines(route: route, firstReceivedAt: now, lastReceivedAt: now)
            let series = SeriesRecord(
                seriesInstanceUID: instance.record.seriesInstanceUID,
                studyInstanceUID: instance.record.studyInstanceUID,
                state: .receiving,
                reason: route == nil ? "no route matched" : nil,
                route: route?.name,
                channel: route.flatMap { Router.channel(of: $0, for: instance.routing)?.name },
                instanceCount: 1,
                expectedCount: instance.expectedCount,
                firstReceivedAt: now,
                lastReceivedAt: now,
                quietDeadline: deadlines.quiet,
                hardDeadline: deadlines.hard,
                version: 1,
                correlationID: correlationID
            )
            try series.insert(db)
            if let route, route.level == .study {
                try Self.touchStudy(db, uid: series.studyInstanceUID, route: route, now: now, correlationID: correlationID)
            }
            return .stored(series)
        }
    }

    /// Creates or updates the study of a study-level route: its quiet deadline moves with every
    /// instance; a study already processed is re-opened as a new version (docs/node-behaviour.md,
    /// Series completion).
    static func touchStudy(_ db: Database, uid: String, route: Route, now: Date, correlationID: String) throws {
        if var study = try StudyRecord.fetchOne(db, key: uid) {
            study.lastReceivedAt = max(study.lastReceivedAt, now)
            study.quietDeadline = study.lastReceivedAt.addingTimeInterval(route.quietTime)
            if study.state != .receiving {
                study.state = .receiving
                study.reason = nil
                study.version += 1
                study.firstReceivedAt = now
                study.giveUpDeadline = now.addingTimeInterval(route.giveUpAfter)
            }
            try study.update(db)
        } else {
            try StudyRecord(studyInstanceUID: uid, route: route.name, state: .receiving, reason: nil, firstReceivedAt: now,
                            lastReceivedAt: now, quietDeadline: now.addingTimeInterval(route.quietTime),
                            giveUpDeadline: now.addingTimeInterval(route.giveUpAfter), version: 1,
                            correlationID: correlationID).insert(db)
        }
    }

    /// Series that are receiving.
    public func receivingSeries() throws -> [SeriesRecord] {
        try database.writer.read { db in
            try SeriesRecord.filter(Column("state") == SubjectState.receiving.rawValue).fetchAll(db)
        }
    }

    /// Closes every series that is complete at `now`: series-level routes get a queued job per
    /// model, unrouted series become `unrouted`. Returns the jobs created. One transaction per
    /// series.
    @discardableResult
    public func closeStableSeries(now: Date) throws -> [JobRecord] {
        var jobs: [JobRecord] = []
        for series in try receivingSeries() {
            let route = router.routes.first { $0.name == series.route }
            guard SeriesLifecycle.isStable(series, route: route, now: now) else { continue }
            jobs += try close(series: series.seriesInstanceUID, route: route, now: now)
        }
        return jobs
    }

    private func close(series uid: String, route: Route?, now: Date) throws -> [JobRecord] {
        try database.writer.write { db -> [JobRecord] in
            // Re-read inside the transaction: an instance may have arrived meanwhile.
            guard var series = try SeriesRecord.fetchOne(db, key: uid), series.state == .receiving,
                  SeriesLifecycle.isStable(series, route: route, now: now) else { return [] }
            guard let route else {
                series.state = .unrouted
                try series.update(db)
                return []
            }
            guard route.level == .series else {
                // Study-level routes collect their channels in the study tracker.
                series.state = .stable
                try series.update(db)
                return []
            }
            series.state = .queued
            try series.update(db)
            return try route.models.map { model in
                var job = JobRecord(id: nil, route: route.name, model: model, subjectUID: uid, level: "series",
                                    version: series.version, state: .queued, step: .assemble, attempts: 0, reason: nil,
                                    inputs: Self.json(["image": [uid]]), results: "[]", timings: "{}",
                                    correlationID: series.correlationID, createdAt: now, startedAt: nil, finishedAt: nil)
                try job.insert(db)
                return job
            }
        }
    }

    static func json<T: Encodable>(_ value: T) -> String {
        let encoder = JSONEncoder()
        encoder.outputFormatting = .sortedKeys
        return String(decoding: (try? encoder.encode(value)) ?? Data("null".utf8), as: UTF8.self)
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

    public func series(_ uid: String) throws -> SeriesRecord? {
        try database.writer.read { db in try SeriesRecord.fetchOne(db, key: uid) }
    }

    public func jobs(state: SubjectState? = nil) throws -> [JobRecord] {
        try database.writer.read { db in
            var request = JobRecord.order(Column("id"))
            if let state { request = request.filter(Column("state") == state.rawValue) }
            return try request.fetchAll(db)
        }
    }
}

extension NodeStore {
    public struct Counts: Sendable {
        public var jobs: [SubjectState: Int]
        public var outbox: [OutboxState: Int]
    }

    /// Jobs and outbox entries by state, for metrics.
    public func counts() throws -> Counts {
        try database.writer.read { db in
            var jobs: [SubjectState: Int] = [:]
            for row in try Row.fetchAll(db, sql: "SELECT state, COUNT(*) AS n FROM job GROUP BY state") {
                if let state = SubjectState(rawValue: row["state"]) { jobs[state] = row["n"] }
            }
            var outbox: [OutboxState: Int] = [:]
            for row in try Row.fetchAll(db, sql: "SELECT state, COUNT(*) AS n FROM outbox GROUP BY state") {
                if let state = OutboxState(rawValue: row["state"]) { outbox[state] = row["n"] }
            }
            return Counts(jobs: jobs, outbox: outbox)
        }
    }
}

// MARK: - Jobs

extension NodeStore {
    /// Takes the oldest queued job for processing (one transaction): queued → processing,
    /// attempts + 1. Nil when none is queued.
    public func claimNextJob(now: Date) throws -> JobRecord? {
        try database.writer.write { db -> JobRecord? in
            guard var job = try JobRecord.filter(Column("state") == SubjectState.queued.rawValue)
                .order(Column("id")).fetchOne(db) else { return nil }
            job.state = .processing
            job.attempts += 1
            job.startedAt = now
            try job.update(db)
            try Self.setSubjectState(db, job: job, to: .processing, reason: nil, from: [.queued])
            return job
        }
    }

    /// Records that a job reached `step`, with the files it has produced so far (JSON) and its
    /// step timings, so that a restart resumes there instead of redoing finished work.
    public func recordProgress(jobID: Int64, step: JobStep, results: String? = nil, timings: String? = nil) throws {
        try database.writer.write { db in
            guard var job = try JobRecord.fetchOne(db, key: jobID) else { return }
            job.step = step
            if let results { job.results = results }
            if let timings { job.timings = timings }
            try job.update(db)
        }
    }

    /// Finishes a job: its outbox entries, the job and its series change in one transaction, so
    /// a crash leaves either nothing or everything to send.
    /// `note` (warnings of a job that still produced its results) becomes the job's and its
    /// subject's reason, so the API shows why e.g. only part of a series was used.
    public func completeJob(jobID: Int64, objects: [(path: String, sopInstanceUID: String)], destinations: [String],
                            timings: String, note: String? = nil, now: Date) throws {
        try database.writer.write { db in
            guard var job = try JobRecord.fetchOne(db, key: jobID) else { return }
            for object in objects {
                for destination in destinations {
                    var entry = OutboxRecord(id: nil, jobID: jobID, path: object.path, sopInstanceUID: object.sopInstanceUID,
                                             destination: destination, state: .pending, attempts: 0, nextAttemptAt: now,
                                             createdAt: now, lastAttemptAt: nil, lastStatus: nil, lastError: nil, sentAt: nil,
                                             correlationID: job.correlationID)
                    try entry.insert(db, onConflict: .ignore)
                }
            }
            job.state = .done
            job.step = .finished
            job.finishedAt = now
            job.timings = timings
            job.reason = note
            try job.update(db)
            try Self.settleSeries(db, job: job, state: .done, reason: note)
        }
    }

    /// Fails a job with a reason (shown in the API and the log); the series fails with it.
    public func failJob(jobID: Int64, reason: String, now: Date) throws {
        try database.writer.write { db in
            guard var job = try JobRecord.fetchOne(db, key: jobID) else { return }
            job.state = .failed
            job.reason = reason
            job.finishedAt = now
            try job.update(db)
            try Self.settleSeries(db, job: job, state: .failed, reason: reason)
        }
    }

    /// The subject follows its jobs — those of the same version, one per model of the route —
    /// unless a late instance re-opened it meanwhile (then it is receiving a newer version and
    /// must stay so). While a sibling job is still queued or running the subject stays
    /// processing; then it is failed if any job failed, else done. With several models the
    /// reason names each model's.
    private static func settleSeries(_ db: Database, job: JobRecord, state: SubjectState, reason: String?) throws {
        let siblings = try JobRecord.filter(Column("subjectUID") == job.subjectUID && Column("version") == job.version
                                            && Column("route") == job.route).order(Column("id")).fetchAll(db)
        guard siblings.count > 1 else {
            try setSubjectState(db, job: job, to: state, reason: reason, from: [.processing, .queued])
            return
        }
        if siblings.contains(where: { $0.state == .queued || $0.state == .processing }) {
            try setSubjectState(db, job: job, to: .processing, reason: nil, from: [.processing, .queued])
            return
        }
        let failed = siblings.filter { $0.state == .failed }
        let noted = (failed.isEmpty ? siblings : failed).compactMap { sibling in sibling.reason.map { "\(sibling.model): \($0)" } }
        try setSubjectState(db, job: job, to: failed.isEmpty ? .done : .failed,
                            reason: noted.isEmpty ? nil : noted.joined(separator: "; "), from: [.processing, .queued])
    }

    /// Moves a job's subject — its series, or for study-level jobs the study and its input
    /// series — to `state`, but only from the given states.
    private static func setSubjectState(_ db: Database, job: JobRecord, to state: SubjectState, reason: String?,
                                        from: [SubjectState]) throws {
        let allowed = from.map(\.rawValue)
        if job.level == "study" {
            try StudyRecord.filter(Column("studyInstanceUID") == job.subjectUID && Column("version") == job.version
                                   && allowed.contains(Column("state")))
                .updateAll(db, Column("state").set(to: state.rawValue), Column("reason").set(to: reason))
            let inputs = (try? JSONDecoder().decode([String: [String]].self, from: Data(job.inputs.utf8))) ?? [:]
            try SeriesRecord.filter(inputs.values.flatMap { $0 }.contains(Column("seriesInstanceUID")) && allowed.contains(Column("state")))
                .updateAll(db, Column("state").set(to: state.rawValue), Column("reason").set(to: reason))
        } else {
            try SeriesRecord.filter(Column("seriesInstanceUID") == job.subjectUID && Column("version") == job.version
                                    && allowed.contains(Column("state")))
                .updateAll(db, Column("state").set(to: state.rawValue), Column("reason").set(to: reason))
        }
    }

    /// After a crash, jobs left `processing` are queued again (they resume at their recorded
    /// step); one that has already been attempted `maximumAttempts` times fails instead, so a
    /// series that crashes the node cannot do so forever.
    @discardableResult
    public func requeueInterruptedJobs(maximumAttempts: Int, now: Date) throws -> (requeued: Int, failed: Int) {
        try database.writer.write { db in
            var requeued = 0, failed = 0
            for var job in try JobRecord.filter(Column("state") == SubjectState.processing.rawValue).fetchAll(db) {
                if job.attempts >= maximumAttempts {
                    job.state = .failed
                    job.reason = "interrupted \(job.attempts) times (the node stopped or crashed while processing)"
                    job.finishedAt = now
                    try job.update(db)
                    try Self.settleSeries(db, job: job, state: .failed, reason: job.reason)
                    failed += 1
                } else {
                    job.state = .queued
                    try job.update(db)
                    requeued += 1
                }
            }
            return (requeued, failed)
        }
    }
}
