import Foundation

/// The lifecycle of a study that collects the channels of a study-level route
/// (docs/node-behaviour.md, Study-level routes), as events on its record. Pure, like
/// SeriesLifecycle.swift: the store loads the record, applies one event, saves it and performs the
/// returned actions in one transaction.
///
/// ```
/// receiving ──complete──► queued ──job claimed──► processing ──jobs settled──► done | failed
///     └──give-up time passed──► failed
/// any other state ──instance arrived──► receiving (version + 1)
/// ```
extension StudyRecord {
    /// What the store does after a study event.
    public enum Action: Equatable, Sendable {
        /// Queue one job per model with these input series by channel name, and mark the chosen
        /// series queued; `caveats` go into the results.
        case queueJobs(route: String, models: [String], inputs: [String: [String]], caveats: [String])
        /// Fail the study's series still waiting (stable or receiving) with the study's reason.
        case abandonSeries(reason: String)
    }

    /// Where a receiving study stands.
    public enum Readiness: Equatable, Sendable {
        /// Every channel has a stable series, none is arriving, and the study has been quiet.
        case complete(inputs: [String: [String]])
        /// Past the give-up time without being complete; the reason names what is missing.
        case gaveUp(reason: String)
        case waiting
    }

    /// A study's first instance of a series on `route`.
    public static func started(uid: String, route: Route, at now: Date, correlationID: String) -> StudyRecord {
        StudyRecord(
            studyInstanceUID: uid, route: route.name, state: .receiving, reason: nil, firstReceivedAt: now,
            lastReceivedAt: now, quietDeadline: now.addingTimeInterval(route.quietTime),
            giveUpDeadline: now.addingTimeInterval(route.giveUpAfter), version: 1, correlationID: correlationID)
    }

    /// An instance of one of its series arrived: the quiet time moves; a study already queued or
    /// processed is re-opened as a new version with a fresh give-up time.
    /// The study of a series of a study-level route after one of the series' instances arrived
    /// (`SeriesRecord.Action.touchStudy`): `existing` updated, or started when the node has none.
    public static func touched(
        _ existing: StudyRecord?, by series: SeriesRecord, route: Route, at now: Date
    ) -> StudyRecord {
        guard var study = existing else {
            return started(
                uid: series.studyInstanceUID, route: route, at: now, correlationID: series.correlationID)
        }
        study.instanceArrived(at: now, route: route)
        return study
    }

    public mutating func instanceArrived(at now: Date, route: Route) {
        lastReceivedAt = max(lastReceivedAt, now)
        quietDeadline = lastReceivedAt.addingTimeInterval(route.quietTime)
        guard state != .receiving else { return }
        state = .receiving
        reason = nil
        version += 1
        firstReceivedAt = now
        giveUpDeadline = now.addingTimeInterval(route.giveUpAfter)
    }

    /// Whether the study is complete at `now`, given its series on the route: the newest stable
    /// series fills each channel (a repeated acquisition replaces an older one).
    public func readiness(at now: Date, route: Route, series: [SeriesRecord]) -> Readiness {
        guard state == .receiving else { return .waiting }
        var inputs: [String: [String]] = [:]
        for channel in route.channels {
            if let chosen = series.filter({ $0.channel == channel.name && $0.state == .stable })
                .max(by: { $0.lastReceivedAt < $1.lastReceivedAt })
            {
                inputs[channel.name] = [chosen.seriesInstanceUID]
            }
        }
        let missing = route.channels.map(\.name).filter { inputs[$0] == nil }
        let arriving = series.contains { $0.state == .receiving }
        if missing.isEmpty && !arriving && now >= quietDeadline { return .complete(inputs: inputs) }
        if now >= giveUpDeadline {
            return .gaveUp(
                reason: "gave up waiting: missing "
                    + (missing.isEmpty ? "a quiet period" : missing.joined(separator: ", ")))
        }
        return .waiting
    }

    /// Every channel is there: one job per model of the route. `caveats`: those of the chosen
    /// series (e.g. one that may be incomplete).
    public mutating func complete(
        inputs: [String: [String]], caveats: [String] = [],
        route: Route
    ) throws(LifecycleError) -> [Action] {
        try require([.receiving], "complete")
        state = .queued
        return [.queueJobs(route: route.name, models: route.models, inputs: inputs, caveats: caveats)]
    }

    /// The give-up time passed without every channel.
    public mutating func giveUp(reason: String) throws(LifecycleError) -> [Action] {
        try require([.receiving], "give up")
        state = .failed
        self.reason = reason
        return [.abandonSeries(reason: reason)]
    }
}

extension StudyRecord {
    /// What closing a study decided: its series that changed and the jobs to insert (no ids
    /// yet). Both stores close a study the same way: load it and its route's series under the
    /// study's lock, call ``close(at:route:series:)``, save the study, the series and the jobs.
    public struct Closing: Equatable, Sendable {
        public var series: [SeriesRecord] = []
        public var jobs: [JobRecord] = []
    }

    /// The tracker's look at a receiving study: complete (jobs for the chosen series, which
    /// carry their caveats into the results), given up (its waiting series fail with the reason),
    /// or nil while it waits. `series`: the study's series on `route`.
    public mutating func close(
        at now: Date, route: Route, series: [SeriesRecord]
    ) throws(LifecycleError) -> Closing? {
        let actions: [Action]
        switch readiness(at: now, route: route, series: series) {
        case .waiting: return nil
        case .complete(let inputs):
            let chosen = Set(inputs.values.joined())
            let caveats = series.filter { chosen.contains($0.seriesInstanceUID) }.flatMap(\.caveats)
            actions = try complete(inputs: inputs, caveats: caveats, route: route)
        case .gaveUp(let reason):
            actions = try giveUp(reason: reason)
        }
        var closing = Closing()
        for action in actions {
            switch action {
            case .queueJobs(let route, let models, let inputs, let caveats):
                let chosen = Set(inputs.values.joined())
                for var s in series where chosen.contains(s.seriesInstanceUID) {
                    try s.studyQueued()
                    closing.series.append(s)
                }
                closing.jobs += models.map { model in
                    JobRecord.queued(
                        route: route, model: model, subject: studyInstanceUID, level: .study, version: version,
                        inputs: inputs, caveats: caveats, correlationID: correlationID, at: now)
                }
            case .abandonSeries(let reason):
                for var s in series where s.state == .stable || s.state == .receiving {
                    try s.studyAbandoned(reason: reason)
                    closing.series.append(s)
                }
            }
        }
        return closing
    }
}

extension StudyRecord: JobSubjectLifecycle {
    public var lifecycleSubject: String { "study \(studyInstanceUID)" }
    public static var queued: StudyState { .queued }
    public static var processing: StudyState { .processing }
    public static var done: StudyState { .done }
    public static var failed: StudyState { .failed }
}
