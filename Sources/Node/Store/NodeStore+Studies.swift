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
            guard let closing = try study.close(at: now, route: route, series: series) else { return [] }
            try study.update(db)
            for s in closing.series { try s.update(db) }
            var jobs = closing.jobs
            for index in jobs.indices { try jobs[index].insert(db) }
            return jobs
        }
    }

    public func study(_ uid: String) throws -> StudyRecord? {
        try database.writer.read { db in try StudyRecord.fetchOne(db, key: uid) }
    }
}
