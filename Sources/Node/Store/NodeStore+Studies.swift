import Foundation
import GRDB

extension NodeStore {
    /// Closes studies of study-level routes (docs/node-behaviour.md, Study-level routes): once every
    /// channel has a stable series, no series of the study is still arriving and the study has
    /// been quiet for the route's quiet time, one job per model gets the channels' series as
    /// inputs. A study still missing a channel at its give-up time fails with the missing channels
    /// as reason. One transaction per study.
    @discardableResult
    public func closeStableStudies(now: Date) throws -> [JobRecord] {
        let open = try database.writer.read { db in
            try StudyRecord.filter(Column("state") == StudyState.receiving.rawValue).fetchAll(db)
        }
        var jobs: [JobRecord] = []
        for study in open {
            guard let route = router.route(named: study.route) else { continue }
            jobs += try close(study: study.studyInstanceUID, route: route, now: now)
        }
        return jobs
    }

    public func nextDeadline(after now: Date) throws -> Date? {
        try database.writer.read { db in
            try Date.fetchOne(
                db,
                sql: """
                    SELECT MIN(deadline) FROM (
                        SELECT quietDeadline AS deadline FROM series WHERE state = 'receiving'
                        UNION ALL SELECT hardDeadline FROM series WHERE state = 'receiving'
                        UNION ALL SELECT quietDeadline FROM study WHERE state = 'receiving'
                        UNION ALL SELECT giveUpDeadline FROM study WHERE state = 'receiving'
                    ) WHERE deadline > ?
                    """, arguments: [now])
        }
    }

    private func close(study uid: String, route: Route, now: Date) throws -> [JobRecord] {
        try database.writer.write { db -> [JobRecord] in
            guard var study = try StudyRecord.fetchOne(db, key: uid) else { return [] }
            let series =
                try SeriesRecord
                .filter(Column("studyInstanceUID") == uid && Column("route") == route.name)
                .fetchAll(db)
            let actions: [StudyRecord.Action]
            switch study.readiness(at: now, route: route, series: series) {
            case .waiting: return []
            case .complete(let inputs):
                let chosen = Set(inputs.values.joined())
                let caveats = series.filter { chosen.contains($0.seriesInstanceUID) }.flatMap(\.caveats)
                actions = try study.complete(inputs: inputs, caveats: caveats, route: route)
            case .gaveUp(let reason): actions = try study.giveUp(reason: reason)
            }
            try study.update(db)
            var jobs: [JobRecord] = []
            for action in actions {
                switch action {
                case .queueJobs(let route, let models, let inputs, let caveats):
                    let chosen = Set(inputs.values.joined())
                    for var s in series where chosen.contains(s.seriesInstanceUID) {
                        try s.studyQueued()
                        try s.update(db)
                    }
                    for model in models {
                        var job = JobRecord.queued(
                            route: route, model: model, subject: uid, level: .study,
                            version: study.version, inputs: inputs, caveats: caveats,
                            correlationID: study.correlationID, at: now)
                        try job.insert(db)
                        jobs.append(job)
                    }
                case .abandonSeries(let reason):
                    for var s in series where s.state == .stable || s.state == .receiving {
                        try s.studyAbandoned(reason: reason)
                        try s.update(db)
                    }
                }
            }
            return jobs
        }
    }

    public func study(_ uid: String) throws -> StudyRecord? {
        try database.writer.read { db in try StudyRecord.fetchOne(db, key: uid) }
    }
}
