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
///
/// A receiving series is *interrupted* (``SeriesRecord/interruption``) when an association that
/// added to it ends abnormally, or when the node restarts while an association was feeding it.
/// Quiet time alone does not complete an interrupted series: the expected count does, a later
/// association that adds to it and ends normally clears the interruption (then the quiet time
/// counts again), and otherwise the route's `interrupted_grace` without a new instance completes
/// it with a caveat that the result may be incomplete (docs/node-behaviour.md, Interrupted series).
extension SeriesRecord {
    /// What the store does after a series event.
    public enum Action: Equatable, Sendable {
        /// Queue one job per model of this series-level route, at the series' version; `caveats`
        /// go into the results (e.g. that the series may be incomplete).
        case queueJobs(route: String, models: [String], caveats: [String])
        /// Create or update the study of this study-level route (its quiet time moves).
        case touchStudy(route: String)
    }

    /// The jobs of a `.queueJobs` action: one per model, on this version of the series.
    public func queuedJobs(route: String, models: [String], caveats: [String], at now: Date) -> [JobRecord] {
        models.map { model in
            JobRecord.queued(
                route: route, model: model, subject: seriesInstanceUID, level: .series, version: version,
                inputs: ["image": [seriesInstanceUID]], caveats: caveats, correlationID: correlationID, at: now)
        }
    }

    /// Why a receiving series is complete (checked in this order).
    public enum Completion: String, Equatable, Sendable {
        /// The instance count the data announces was reached (routes with `close_on_expected_count`).
        case expectedCountReached = "expected count reached"
        /// Nothing arrived for the route's quiet time.
        case quietTimePassed = "quiet time passed"
        /// The route's hard cap since the first instance passed.
        case hardCapReached = "hard cap reached"
        /// Interrupted, and nothing arrived for the route's `interrupted_grace`.
        case interruptedGracePassed = "interrupted grace passed"
    }

    /// The quiet and hard-cap deadlines of a series on `route`; a series no route matched still
    /// gets them (the node's `unrouted_quiet_time`, 1 h), so that it leaves `receiving` and is
    /// reported.
    public static func deadlines(
        route: Route?, unroutedQuiet: Double, firstReceivedAt: Date,
        lastReceivedAt: Date
    ) -> (quiet: Date, hard: Date) {
        let quiet = route?.quietTime ?? unroutedQuiet
        let cap = route?.hardCap ?? 3600
        return (lastReceivedAt.addingTimeInterval(quiet), firstReceivedAt.addingTimeInterval(cap))
    }

    /// A series' first instance, from `association`: receiving, version 1. `reason` says why no
    /// route matched, if none did.
    public static func started(
        uid: String, study: String, route: Route?, unroutedQuiet: Double, channel: String?,
        reason: String?, expectedCount: Int?, association: String?, at now: Date,
        correlationID: String
    ) -> (SeriesRecord, [Action]) {
        let deadlines = deadlines(route: route, unroutedQuiet: unroutedQuiet, firstReceivedAt: now, lastReceivedAt: now)
        let series = SeriesRecord(
            seriesInstanceUID: uid, studyInstanceUID: study, state: .receiving, reason: route == nil ? reason : nil,
            route: route?.name, channel: channel, instanceCount: 1, expectedCount: expectedCount,
            firstReceivedAt: now, lastReceivedAt: now, quietDeadline: deadlines.quiet, hardDeadline: deadlines.hard,
            version: 1, correlationID: correlationID, feedingAssociation: association)
        return (series, series.studyActions(route))
    }

    /// Another instance of the series, from `association`. Allowed in every state: a complete
    /// series waiting for its study is simply still arriving, and an instance arriving after the
    /// series was processed (or while it is) re-opens it as a new result version — never a silent
    /// drop. An unrouted series stays unrouted: only its count changes.
    public mutating func instanceArrived(
        at now: Date, expectedCount: Int?, association: String?, route: Route?,
        unroutedQuiet: Double
    ) -> [Action] {
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
            interruption = nil
            firstReceivedAt = now
        }
        feedingAssociation = association
        let deadlines = Self.deadlines(
            route: route, unroutedQuiet: unroutedQuiet, firstReceivedAt: firstReceivedAt,
            lastReceivedAt: lastReceivedAt)
        quietDeadline = interruption == nil ? deadlines.quiet : lastReceivedAt.addingTimeInterval(Self.grace(route))
        hardDeadline = deadlines.hard
        return studyActions(route)
    }

    /// An instance the node already has arrived again from `association` (a modality re-sending
    /// the whole series): nothing is stored, but the association now feeds the series, so that
    /// its normal end clears an interruption. Only a receiving series changes.
    public mutating func instanceRepeated(association: String?) {
        guard state == .receiving, let association else { return }
        feedingAssociation = association
    }

    /// An association that added instances to this series ended. Taken in every state; only a
    /// receiving series changes. Normally (A-RELEASE): an interruption is cleared — the sender
    /// finished a transfer of this series — and the quiet time counts again. Abnormally (A-ABORT
    /// from either side, a lost connection): the series is interrupted, `how` saying what
    /// happened, and waits for the expected count, a normal association or the grace.
    public mutating func associationEnded(
        _ association: String, normally: Bool, how: String, route: Route?,
        unroutedQuiet: Double
    ) {
        guard state == .receiving else { return }
        if feedingAssociation == association { feedingAssociation = nil }
        if normally {
            guard interruption != nil else { return }
            interruption = nil
            quietDeadline = lastReceivedAt.addingTimeInterval(route?.quietTime ?? unroutedQuiet)
        } else {
            interruption = how
            quietDeadline = lastReceivedAt.addingTimeInterval(Self.grace(route))
        }
    }

    /// Whether the series is complete at `now`, and why; nil while it is still arriving (or not
    /// receiving). The quiet deadline of an interrupted series is its grace.
    public func completion(at now: Date, route: Route?) -> Completion? {
        guard state == .receiving else { return nil }
        if let expected = expectedCount, route?.closeOnExpectedCount ?? false, instanceCount >= expected {
            return .expectedCountReached
        }
        if now >= quietDeadline { return interruption == nil ? .quietTimePassed : .interruptedGracePassed }
        if now >= hardDeadline { return .hardCapReached }
        return nil
    }

    /// The series is complete: with no route it is reported as unrouted (a final state); a
    /// series-level route queues its jobs; a study-level route's series waits, stable, for its
    /// study. A series completed while interrupted keeps its ``interruption`` (the API shows it)
    /// and its jobs carry it as a caveat into the results.
    public mutating func complete(_ completion: Completion, route: Route?) throws(LifecycleError) -> [Action] {
        try require([.receiving], "\(completion.rawValue)")
        feedingAssociation = nil
        if completion == .expectedCountReached { interruption = nil } // every announced instance is here
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
            return [.queueJobs(route: route.name, models: route.models, caveats: caveats)]
        }
    }

    /// What the results of this series must say about it: that it may be incomplete, with the
    /// count received and why, when it was completed while interrupted.
    public var caveats: [String] {
        guard let interruption else { return [] }
        return [
            "Series \(seriesInstanceUID) may be incomplete: \(instanceCount) instance\(instanceCount == 1 ? "" : "s")"
                + " received; \(interruption)."
        ]
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

    /// The node started again. A series that was still arriving gets a fresh quiet time counted
    /// from now: the modality may have been sending into the outage, and the quiet time that
    /// passed while the node was down says nothing about whether the series is complete. One that
    /// an association was still feeding is interrupted (its grace counts from now); neither is
    /// closed by a hard cap that passed during the outage. Other states are unchanged.
    public mutating func nodeRestarted(at now: Date, route: Route?, unroutedQuiet: Double) {
        guard state == .receiving else { return }
        if feedingAssociation != nil {
            interruption = "the node stopped while an association was sending it"
            feedingAssociation = nil
        }
        quietDeadline = max(
            quietDeadline,
            now.addingTimeInterval(interruption == nil ? route?.quietTime ?? unroutedQuiet : Self.grace(route)))
        // The hard cap may have passed during the outage: the sender gets its window all the same.
        hardDeadline = max(hardDeadline, quietDeadline)
    }

    static func grace(_ route: Route?) -> Double { route?.interruptedGrace ?? 600 }

    private func studyActions(_ route: Route?) -> [Action] {
        guard let route, route.level == .study else { return [] }
        return [.touchStudy(route: route.name)]
    }
}

extension SeriesRecord: JobSubjectLifecycle {
    public var lifecycleSubject: String { "series \(seriesInstanceUID)" }
    public static var queued: SeriesState { .queued }
    public static var processing: SeriesState { .processing }
    public static var done: SeriesState { .done }
    public static var failed: SeriesState { .failed }
}
