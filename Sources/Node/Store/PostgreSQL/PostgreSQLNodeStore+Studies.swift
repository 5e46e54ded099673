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
            let actions: [StudyRecord.Action]
            switch study.readiness(at: now, route: route, series: series) {
            case .waiting: return []
            case .complete(let inputs):
                let chosen = Set(inputs.values.joined())
                let caveats = series.filter { chosen.contains($0.seriesInstanceUID) }.flatMap(\.caveats)
                actions = try study.complete(inputs: inputs, caveats: caveats, route: route)
            case .gaveUp(let reason): actions = try study.giveUp(reason: reason)
            }
            try await t.update(study, in: .study, key: uid)
            var jobs: [JobRecord] = []
            for action in actions {
                switch action {
                case .queueJobs(let route, let models, let inputs, let caveats):
                    let chosen = Set(inputs.values.joined())
                    for var s in series where chosen.contains(s.seriesInstanceUID) {
                        try s.studyQueued()
                        try await t.update(s, in: .series, key: s.seriesInstanceUID)
                    }
                    for model in models {
                        var job = JobRecord.queued(
                            route: route, model: model, subject: uid, level: .study, version: study.version,
                            inputs: inputs, caveats: caveats, correlationID: study.correlationID, at: now)
                        job.id = try await t.insert(job, into: .job)
                        jobs.append(job)
                    }
                case .abandonSeries(let reason):
                    for var s in series where s.state == .stable || s.state == .receiving {
                        try s.studyAbandoned(reason: reason)
                        try await t.update(s, in: .series, key: s.seriesInstanceUID)
                    }
                }
            }
            if !jobs.isEmpty { try await t.notifyJobsQueued() }
            return jobs
        }
    }
}
