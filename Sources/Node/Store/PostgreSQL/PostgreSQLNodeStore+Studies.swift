import Foundation

extension PostgreSQLNodeStore {
    public func nextDeadline(after now: Date) async throws -> Date? {
        try await read("find the next deadline") { t in
            try await t.execute(
                #"""
                SELECT to_json(MIN(d))::text FROM (
                    SELECT "quietDeadline" AS d FROM series WHERE "state" = 'receiving'
                    UNION ALL SELECT "hardDeadline" FROM series WHERE "state" = 'receiving'
                    UNION ALL SELECT "quietDeadline" FROM study WHERE "state" = 'receiving'
                    UNION ALL SELECT "giveUpDeadline" FROM study WHERE "state" = 'receiving'
                ) AS deadlines WHERE d > $1::timestamptz
                """#, [PostgreSQLTimestamp.format(now)]
            ).first.flatMap { row in Self.timestamp(json: try row.decode(String?.self)) }
        }
    }

    /// `NodeStore.closeStableStudies` in PostgreSQL: each study under its lock, so of the nodes
    /// whose trackers find it ready at once, one makes its jobs.
    public func closeStableStudies(now: Date) async throws -> [JobRecord] {
        let open = try await read("find receiving studies") { t in
            try await t.records(
                StudyRecord.self, #"SELECT row_to_json(t)::text FROM study t WHERE "state" = 'receiving'"#)
        }
        var jobs: [JobRecord] = []
        for study in open {
            guard let route = router.route(named: study.route) else { continue }
            jobs += try await close(study: study.studyInstanceUID, route: route, now: now)
        }
        return jobs
    }

    private func close(study uid: String, route: Route, now: Date) async throws -> [JobRecord] {
        try await transaction("close study \(uid)") { t -> [JobRecord] in
            try await t.lock(uid)
            guard var study = try await t.fetch(StudyRecord.self, from: .study, key: uid) else { return [] }
            let series = try await t.records(
                SeriesRecord.self,
                #"SELECT row_to_json(t)::text FROM series t WHERE "studyInstanceUID" = $1 AND "route" = $2"#,
                [uid, route.name])
            guard let closing = try study.close(at: now, route: route, series: series) else { return [] }
            try await t.update(study, in: .study, key: uid)
            for s in closing.series { try await t.update(s, in: .series, key: s.seriesInstanceUID) }
            var jobs = closing.jobs
            for index in jobs.indices { jobs[index].id = try await t.insert(jobs[index], into: .job) }
            if !jobs.isEmpty { try await t.notifyJobsQueued() }
            return jobs
        }
    }
}
