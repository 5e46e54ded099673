import Foundation
import PostgresNIO

extension PostgreSQLNodeStore {
    /// The oldest queued job no other node is claiming (`FOR UPDATE SKIP LOCKED`), now this
    /// node's with a lease of `lease` seconds on the database's clock.
    public func claimNextJob(now: Date) async throws -> JobRecord? {
        let claimed = try await transaction("claim a job") { t -> JobRecord? in
            guard
                var job = try await t.record(
                    JobRecord.self,
                    #"SELECT row_to_json(t)::text FROM job t WHERE "state" = 'queued' ORDER BY "id" LIMIT 1 FOR UPDATE SKIP LOCKED"#
                ), let id = job.id
            else { return nil }
            try job.claim(at: now)
            job.leaseOwner = name
            // The lease on the database's clock, in the claim's own statement.
            job.leaseUntil = try await t.update(
                job, in: .job, key: id, setting: ["leaseUntil": "now() + make_interval(secs => $3)"],
                parameters: [lease], returning: #"to_json(t."leaseUntil")::text"#
            ).first.flatMap { try Self.timestamp(json: $0.decode(String.self)) }
            try await Self.updateSubject(of: job, t) { series throws(LifecycleError) in
                try series.jobClaimed()
            } study: { study throws(LifecycleError) in
                try study.jobClaimed()
            }
            return job
        }
        if let id = claimed?.id { _ = running.withLock { $0.insert(id) } }
        return claimed
    }

    /// Sets the lease of this node's processing jobs `ids` to now + `lease` (database clock).
    @discardableResult
    func extendLease(of ids: [Int64], _ t: PostgreSQLTransaction) async throws -> [Date] {
        try await t.execute(
            #"""
            UPDATE job SET "leaseUntil" = now() + make_interval(secs => $1)
            WHERE "id" = ANY($2) AND "state" = 'processing' AND "leaseOwner" = $3
            RETURNING to_json("leaseUntil")::text
            """#, [lease, ids, name]
        ).map { row in try Self.timestamp(json: row.decode(String.self)) ?? Date() }
    }

    /// A `timestamptz` as `to_json` writes it (a quoted string).
    static func timestamp(json: String?) -> Date? {
        json.flatMap { PostgreSQLTimestamp.parse($0.trimmingCharacters(in: CharacterSet(charactersIn: "\""))) }
    }

    /// The job `id`, locked, provided this node still holds it: a node whose lease expired
    /// (cut off, paused) must not settle a job another node has taken over.
    private func heldJob(_ id: Int64, _ t: PostgreSQLTransaction) async throws -> JobRecord? {
        guard let job = try await t.fetch(JobRecord.self, from: .job, key: id, locking: true) else { return nil }
        guard job.state == .processing, job.leaseOwner == name else {
            throw PostgreSQLStoreError(
                operation: "settle job \(id)",
                message: "the job is no longer this node's (its lease expired; now \(job.state.rawValue)"
                    + (job.leaseOwner.map { " on \($0)" } ?? "") + ")")
        }
        return job
    }

    public func recordProgress(jobID: Int64, step: JobStep) async throws {
        try await transaction("record the progress of job \(jobID)") { t in
            guard var job = try await heldJob(jobID, t) else { return }
            try job.reach(step)
            try await t.update(job, in: .job, key: jobID)
            try await extendLease(of: [jobID], t)
        }
    }

    public func completeJob(
        jobID: Int64, deliveries: [NodeStore.Delivery], timings: [String: Double], note: String?, now: Date
    ) async throws {
        defer { _ = running.withLock { $0.remove(jobID) } }
        try await transaction("complete job \(jobID)") { t in
            guard var job = try await heldJob(jobID, t) else { return }
            try job.complete(at: now, timings: timings, note: note)
            for delivery in deliveries {
                try await Self.enqueue(
                    delivery.objects, [delivery.destination], jobID: jobID, correlationID: job.correlationID, now: now,
                    t)
            }
            try await t.update(job, in: .job, key: jobID)
            try await Self.settleSubject(of: job, t)
        }
    }

    public func failJob(jobID: Int64, reason: String, now: Date) async throws {
        defer { _ = running.withLock { $0.remove(jobID) } }
        try await transaction("fail job \(jobID)") { t in
            guard var job = try await heldJob(jobID, t) else { return }
            try job.fail(at: now, reason: reason)
            try await t.update(job, in: .job, key: jobID)
            try await Self.settleSubject(of: job, t)
        }
    }

    /// `NodeStore.settleSubject`: the subject follows its jobs of the same version and route.
    static func settleSubject(of job: JobRecord, _ t: PostgreSQLTransaction) async throws {
        let siblings = try await t.records(
            JobRecord.self,
            #"SELECT row_to_json(t)::text FROM job t WHERE "subjectUID" = $1 AND "version" = $2 AND "route" = $3 ORDER BY "id""#,
            [job.subjectUID, job.version, job.route])
        try await updateSubject(of: job, t) { series throws(LifecycleError) in
            try series.jobEnded(siblings: siblings)
        } study: { study throws(LifecycleError) in
            try study.jobEnded(siblings: siblings)
        }
    }

    /// `NodeStore.updateSubject`: the event applied to the job's series, or to its study and the
    /// study's input series still queued or processing, under their locks.
    static func updateSubject(
        of job: JobRecord, _ t: PostgreSQLTransaction,
        series event: (inout SeriesRecord) throws(LifecycleError) -> Void,
        study studyEvent: (inout StudyRecord) throws(LifecycleError) -> Void
    ) async throws {
        switch job.level {
        case .series:
            // The series' lock alone: whoever holds it (receipt, closing) took the study's before
            // and waits for nothing this transaction holds, so the order cannot deadlock.
            try await t.lock(job.subjectUID)
            guard var series = try await t.fetch(SeriesRecord.self, from: .series, key: job.subjectUID),
                series.version == job.version, series.state != .receiving
            else { return }
            try event(&series)
            try await t.update(series, in: .series, key: series.seriesInstanceUID)
        case .study:
            try await t.lock(job.subjectUID)
            if var study = try await t.fetch(StudyRecord.self, from: .study, key: job.subjectUID),
                study.version == job.version, study.state != .receiving
            {
                try studyEvent(&study)
                try await t.update(study, in: .study, key: study.studyInstanceUID)
            }
            let inputs = Array(Set(job.inputs.values.joined()))
            for var series in try await t.records(
                SeriesRecord.self, #"SELECT row_to_json(t)::text FROM series t WHERE "seriesInstanceUID" = ANY($1)"#,
                [inputs]) where series.state == .queued || series.state == .processing
            {
                try event(&series)
                try await t.update(series, in: .series, key: series.seriesInstanceUID)
            }
        }
    }

    /// This node's heartbeat (the `node` table) and the leases of the jobs it runs.
    public func heartbeat(now: Date) async throws {
        let ids = running.withLock { Array($0) }
        try await transaction("heartbeat") { t in
            try await t.execute(
                #"""
                INSERT INTO node ("name", "roles", "startedAt", "heartbeatAt") VALUES ($1, $2::jsonb, $3::timestamptz, now())
                ON CONFLICT ("name") DO UPDATE SET "roles" = EXCLUDED."roles", "heartbeatAt" = now()
                """#,
                [
                    name, try PostgreSQLTransaction.json(roles.map(\.rawValue).sorted()),
                    PostgreSQLTimestamp.format(startedAt)
                ])
            if !ids.isEmpty { try await extendLease(of: ids, t) }
        }
    }

    /// Jobs whose lease ran out (on the database's clock) are interrupted: queued again for any
    /// node, or failed after `maximumAttempts`; each in its own transaction, skipping jobs another
    /// node is reclaiming at the same moment.
    public func reclaimExpiredLeases(maximumAttempts: Int, now: Date) async throws -> (requeued: Int, failed: Int) {
        var requeued = 0, failed = 0
        while true {
            let outcome = try await transaction("reclaim an expired job") { t -> JobRecord.Interruption? in
                guard
                    var job = try await t.record(
                        JobRecord.self,
                        #"""
                        SELECT row_to_json(t)::text FROM job t WHERE "state" = 'processing' AND "leaseUntil" < now()
                        ORDER BY "id" LIMIT 1 FOR UPDATE SKIP LOCKED
                        """#), let id = job.id
                else { return nil }
                let interruption = try job.leaseExpired(at: now, maximumAttempts: maximumAttempts)
                try await t.update(job, in: .job, key: id)
                switch interruption {
                case .requeued: try await t.notifyJobsQueued()
                case .failed: try await Self.settleSubject(of: job, t)
                }
                return interruption
            }
            switch outcome {
            case .requeued: requeued += 1
            case .failed: failed += 1
            case nil: return (requeued, failed)
            }
        }
    }

    /// At this node's start: the jobs it held (it stopped or crashed) are interrupted, and the
    /// series its own associations were feeding get a fresh quiet time. Other nodes' jobs and
    /// series are theirs.
    public func recoverAfterRestart(maximumAttempts: Int, now: Date) async throws -> (requeued: Int, failed: Int) {
        let router = self.router
        return try await transaction("recover after a restart") { t in
            var requeued = 0, failed = 0
            for var job in try await t.records(
                JobRecord.self,
                #"SELECT row_to_json(t)::text FROM job t WHERE "state" = 'processing' AND "leaseOwner" = $1 FOR UPDATE"#,
                [name])
            {
                switch try job.nodeRestarted(at: now, maximumAttempts: maximumAttempts) {
                case .requeued:
                    requeued += 1
                    try await t.update(job, in: .job, key: job.id!)
                case .failed:
                    failed += 1
                    try await t.update(job, in: .job, key: job.id!)
                    try await Self.settleSubject(of: job, t)
                }
            }
            if requeued > 0 { try await t.notifyJobsQueued() }
            for var series in try await t.records(
                SeriesRecord.self,
                #"SELECT row_to_json(t)::text FROM series t WHERE "state" = 'receiving' AND "feedingAssociation" LIKE $1 FOR UPDATE"#,
                [Self.likePattern(prefix: InstanceIndexer.runPrefix(node: name))])
            {
                series.nodeRestarted(
                    at: now, route: router.route(named: series.route), unroutedQuiet: router.unroutedQuietTime)
                try await t.update(series, in: .series, key: series.seriesInstanceUID)
            }
            return (requeued, failed)
        }
    }

    /// A LIKE pattern matching what starts with `prefix` (its `%`, `_` and backslash taken literally).
    static func likePattern(prefix: String) -> String {
        prefix.replacingOccurrences(of: "\\", with: "\\\\").replacingOccurrences(of: "%", with: "\\%")
            .replacingOccurrences(of: "_", with: "\\_") + "%"
    }
}
