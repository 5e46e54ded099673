import Foundation
import GRDB

extension NodeStore {
    /// Closes studies of study-level routes (docs/node-behaviour.md, Study-level routes): once every
    /// channel has a stable series, no series of the study is still arriving and the study has
    /// been quiet for the route's quiet time, one job per model gets the channels' series as inputs. A study
    /// still missing a channel at its give-up time fails with the missing channels as reason.
    @discardableResult
    public func closeStableStudies(now: Date) throws -> [JobRecord] {
        let open = try database.writer.read { db in
            try StudyRecord.filter(Column("state") == SubjectState.receiving.rawValue).fetchAll(db)
        }
        var jobs: [JobRecord] = []
        for study in open {
            guard let route = router.routes.first(where: { $0.name == study.route }) else { continue }
            jobs += try close(study: study.studyInstanceUID, route: route, now: now)
        }
        return jobs
    }

    private func close(study uid: String, route: Route, now: Date) throws -> [JobRecord] {
        try database.writer.write { db -> [JobRecord] in
            guard var study = try StudyRecord.fetchOne(db, key: uid), study.state == .receiving else { return [] }
            let series = try SeriesRecord
                .filter(Column("studyInstanceUID") == uid && Column("route") == route.name)
                .fetchAll(db)
            // The newest stable series fills each channel (a repeated acquisition replaces an older one).
            var inputs: [String: [String]] = [:]
            for channel in route.channels {
                if let chosen = series.filter({ $0.channel == channel.name && $0.state == .stable })
                    .max(by: { $0.lastReceivedAt < $1.lastReceivedAt }) {
                    inputs[channel.name] = [chosen.seriesInstanceUID]
                }
            }
            let missing = route.channels.map(\.name).filter { inputs[$0] == nil }
            let arriving = series.contains { $0.state == .receiving }
            if missing.isEmpty && !arriving && now >= study.quietDeadline {
                study.state = .queued
                try study.update(db)
                let chosen = Set(inputs.values.flatMap { $0 })
                for var s in series where chosen.contains(s.seriesInstanceUID) {
                    s.state = .queued
                    try s.update(db)
                }
                var jobs: [JobRecord] = []
                for model in route.models {
                    var job = JobRecord(id: nil, route: route.name, model: model, subjectUID: uid, level: "study",
                                        version: study.version, state: .queued, step: .assemble, attempts: 0, reason: nil,
                                        inputs: Self.json(inputs), results: "[]", timings: "{}",
                                        correlationID: study.correlationID, createdAt: now, startedAt: nil, finishedAt: nil)
                    try job.insert(db)
                    jobs.append(job)
                }
                return jobs
            }
            if now >= study.giveUpDeadline {
                study.state = .failed
                study.reason = "gave up waiting: missing " + (missing.isEmpty ? "a quiet period" : missing.joined(separator: ", "))
                try study.update(db)
                for var s in series where s.state == .stable || s.state == .receiving {
                    s.state = .failed
                    s.reason = study.reason
                    try s.update(db)
                }
            }
            return []
        }
    }

    public func study(_ uid: String) throws -> StudyRecord? {
        try database.writer.read { db in try StudyRecord.fetchOne(db, key: uid) }
    }
}
