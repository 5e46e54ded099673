/// The part of a lifecycle that follows the subject's jobs, the same for a series of a
/// series-level route and a study of a study-level route: claimed, a job ended while siblings
/// run, all jobs settled (docs/node-behaviour.md, Series completion).
public protocol JobSubjectLifecycle {
    associatedtype State: RawRepresentable<String> & Hashable & Sendable
    var state: State { get set }
    var reason: String? { get set }
    /// How this subject names itself in a refusal (e.g. "series 1.2.3").
    var lifecycleSubject: String { get }

    static var queued: State { get }
    static var processing: State { get }
    static var done: State { get }
    static var failed: State { get }
}

extension JobSubjectLifecycle {
    /// A job of this version was claimed by a worker (a sibling may already run).
    public mutating func jobClaimed() throws(LifecycleError) {
        try require([Self.queued, Self.processing], "job claimed")
        state = Self.processing
        reason = nil
    }

    /// A job of this version ended while a sibling (another model of the route) is still queued
    /// or running: the subject stays processing.
    public mutating func jobEndedWithSiblingsPending() throws(LifecycleError) {
        try require([Self.queued, Self.processing], "job ended, siblings pending")
        state = Self.processing
    }

    /// Every job of this version has ended: done with their notes, or failed if any failed.
    public mutating func jobsSettled(_ outcome: JobsOutcome) throws(LifecycleError) {
        try require([Self.queued, Self.processing], "jobs settled")
        switch outcome {
        case .done(let note):
            state = Self.done
            reason = note
        case .failed(let why):
            state = Self.failed
            reason = why
        }
    }

    /// A job of this version ended; `siblings` are all its jobs (same subject, version and
    /// route), this one settled: the subject settles with them, or stays processing while one
    /// is still queued or running.
    public mutating func jobEnded(siblings: [JobRecord]) throws(LifecycleError) {
        if let outcome = siblings.outcome {
            try jobsSettled(outcome)
        } else {
            try jobEndedWithSiblingsPending()
        }
    }

    /// Refuses `event` unless the subject is in one of `states`, naming both.
    func require(_ states: Set<State>, _ event: String) throws(LifecycleError) {
        guard states.contains(state) else {
            throw LifecycleError(subject: lifecycleSubject, state: state.rawValue, event: event)
        }
    }
}
