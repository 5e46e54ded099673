import Foundation

/// The lifecycle of a series (docs/node-behaviour.md, Series completion), as events on its
/// record. Pure: no database and no clock — times arrive with the events — so every transition
/// can be tested on its own. Each event changes the record and returns what the store must do
/// next; an event the current state does not allow throws ``LifecycleError`` and changes nothing.
///
/// ```
/// receiving ──complete──► queued ──job claimed──► processing ──jobs settled──► done | failed
///     │  └──complete (study route)──► stable ──study queued──► queued
///     └──complete (no route)──► unrouted (final)
/// any processed state ──instance arrived──► receiving (version + 1: a new result version)
/// ```
extension SeriesRecord {
    /// What the store does after a series event.
    public enum Action: Equatable, Sendable {
        /// Queue one job per model of this series-level route, at the series' version.
        case queueJobs(route: String, models: [String])
        /// Create or update the study of this study-level route (its quiet time moves).
        case touchStudy(route: String)
    }

    /// Why a receiving series is complete (checked in this order).
    public enum Completion: String, Equatable, Sendable {
        /// The instance count the data announces was reached (routes with `close_on_expected_count`).
        case expectedCountReached = "expected count reached"
        /// Nothing arrived for the route's quiet time.
        case quietTimePassed = "quiet time passed"
        /// The route's hard cap since the first instance passed.
        case hardCapReached = "hard cap reached"
    }

    /// The quiet and hard-cap deadlines of a series on `route`; a series no route matched still
    /// gets them (45 s, 1 h), so that it leaves `receiving` and is reported.
    public static func deadlines(route: Route?, firstReceivedAt: Date, lastReceivedAt: Date) -> (quiet: Date, hard: Date) {
        let quiet = route?.quietTime ?? 45
        let cap = route?.hardCap ?? 3600
        return (lastReceivedAt.addingTimeInterval(quiet), firstReceivedAt.addingTimeInterval(cap))
    }

    /// A series' first instance: receiving, version 1. `reason` says why no route matched, if none did.
    public static func started(uid: String, study: String, route: Route?, channel: String?, reason: String?,
                               expectedCount: Int?, at now: Date, correlationID: String) -> (SeriesRecord, [Action]) {
        let deadlines = deadlines(route: route, firstReceivedAt: now, lastReceivedAt: now)
        let series = SeriesRecord(
            seriesInstanceUID: uid, studyInstanceUID: study, state: .receiving, reason: route == nil ? reason : nil,
            route: route?.name, channel: channel, instanceCount: 1, expectedCount: expectedCount,
            firstReceivedAt: now, lastReceivedAt: now, quietDeadline: deadlines.quiet, hardDeadline: deadlines.hard,
            version: 1, correlationID: correlationID)
        return (series, series.studyActions(route))
    }

    /// Another instance of the series. Allowed in every state: a complete series waiting for its
    /// study is simply still arriving, and an instance arriving after the series was processed
    /// (or while it is) re-opens it as a new result version — never a silent drop. An unrouted
    /// series stays unrouted: only its count changes.
    public mutating func instanceArrived(at now: Date, expectedCount: Int?, route: Route?) -> [Action] {
        instanceCount += 1
        lastReceivedAt = max(lastReceivedAt, now)
        if let expectedCount { self.expectedCount = expectedCount }
        switch state {
        case .unrouted:
            return []
        case .receiving, .stable:
            state = .receiving
        case .queued, .processing, .done, .failed:
            state = .receiving
            version += 1
            reason = nil
            firstReceivedAt = now
        }
        let deadlines = Self.deadlines(route: route, firstReceivedAt: firstReceivedAt, lastReceivedAt: lastReceivedAt)
        quietDeadline = deadlines.quiet
        hardDeadline = deadlines.hard
        return studyActions(route)
    }

    /// Whether the series is complete at `now`, and why; nil while it is still arriving (or not receiving).
    public func completion(at now: Date, route: Route?) -> Completion? {
        guard state == .receiving else { return nil }
        if let expected = expectedCount, route?.closeOnExpectedCount ?? false, instanceCount >= expected {
            return .expectedCountReached
        }
        if now >= quietDeadline { return .quietTimePassed }
        if now >= hardDeadline { return .hardCapReached }
        return nil
    }

    /// The series is complete: with no route it is reported as unrouted; a series-level route
    /// queues its jobs; a study-level route's series waits, stable, for its study.
    public mutating func complete(_ completion: Completion, route: Route?) throws(LifecycleError) -> [Action] {
        try require([.receiving], "\(completion.rawValue)")
        guard let route else {
            state = .unrouted
            return []
        }
        switch route.level {
        case .study:
            state = .stable
            return []
        case .series:
            state = .queued
            return [.queueJobs(route: route.name, models: route.models)]
        }
    }

    /// Its study queued a job that takes this (stable) series as a channel.
    public mutating func studyQueued() throws(LifecycleError) {
        try require([.stable], "study queued")
        state = .queued
    }

    /// Its study gave up (a channel never came): the series fails with the study's reason.
    public mutating func studyAbandoned(reason: String) throws(LifecycleError) {
        try require([.stable, .receiving], "study abandoned")
        state = .failed
        self.reason = reason
    }

    /// A job of this series version was claimed by a worker (a sibling may already run).
    public mutating func jobClaimed() throws(LifecycleError) {
        try require([.queued, .processing], "job claimed")
        state = .processing
        reason = nil
    }

    /// A job of this version ended while a sibling (another model of the route) is still queued
    /// or running: the series stays processing.
    public mutating func jobEndedWithSiblingsPending() throws(LifecycleError) {
        try require([.queued, .processing], "job ended, siblings pending")
        state = .processing
    }

    /// Every job of this version has ended.
    public mutating func jobsSettled(_ outcome: JobsOutcome) throws(LifecycleError) {
        try require([.queued, .processing], "jobs settled")
        switch outcome {
        case .done(let note):
            state = .done
            reason = note
        case .failed(let why):
            state = .failed
            reason = why
        }
    }

    /// The node started again. A series that was still arriving gets a fresh quiet time counted
    /// from now: the modality may have been sending into the outage, and the quiet time that
    /// passed while the node was down says nothing about whether the series is complete. Other
    /// states are unchanged.
    public mutating func nodeRestarted(at now: Date, route: Route?) {
        guard state == .receiving else { return }
        quietDeadline = max(quietDeadline, now.addingTimeInterval(route?.quietTime ?? 45))
    }

    private func studyActions(_ route: Route?) -> [Action] {
        guard let route, route.level == .study else { return [] }
        return [.touchStudy(route: route.name)]
    }

    private func require(_ states: Set<SeriesState>, _ event: String) throws(LifecycleError) {
        guard states.contains(state) else {
            throw LifecycleError(subject: "series \(seriesInstanceUID)", state: state.rawValue, event: event)
        }
    }
}
