import Foundation

/// The lifecycle of a job, as events on its record. Pure, like SeriesLifecycle.swift.
///
/// ```
/// queued ──claimed──► processing ──completed──► done
///                        │ ├──failed──► failed
///                        │ └──step reached──► processing
///                        └──interrupted──► queued (starts over) | failed (too many attempts)
/// ```
/// Interrupted: the node that ran it restarted, or (several nodes) its lease expired because its
/// node stopped answering.
extension JobRecord {
    /// A new job for one model on a subject version.
    public static func queued(
        route: String, model: String, subject: String, level: JobLevel, version: Int,
        inputs: [String: [String]], caveats: [String] = [], correlationID: String,
        at now: Date
    ) -> JobRecord {
        JobRecord(
            id: nil, route: route, model: model, subjectUID: subject, level: level, version: version, state: .queued,
            step: .assemble, attempts: 0, reason: nil, inputs: inputs, timings: [:], caveats: caveats,
            correlationID: correlationID, createdAt: now, startedAt: nil, finishedAt: nil)
    }

    /// A worker takes the job: one more attempt, starting at the first step.
    public mutating func claim(at now: Date) throws(LifecycleError) {
        try require([.queued], "claim")
        state = .processing
        step = .assemble
        attempts += 1
        startedAt = now
    }

    /// The running job reached `step` (recorded so the API shows how far it got).
    public mutating func reach(_ step: JobStep) throws(LifecycleError) {
        try require([.processing], "reach \(step.rawValue)")
        self.step = step
    }

    /// The job produced its results; `note` says what it did other than asked (shown as reason).
    public mutating func complete(at now: Date, timings: [String: Double], note: String?) throws(LifecycleError) {
        try require([.processing], "complete")
        state = .done
        step = .finished
        finishedAt = now
        self.timings = timings
        reason = note
        leaseUntil = nil
    }

    public mutating func fail(at now: Date, reason: String) throws(LifecycleError) {
        try require([.processing], "fail")
        state = .failed
        finishedAt = now
        self.reason = reason
        leaseUntil = nil
    }

    /// What the restart did with an interrupted job.
    public enum Interruption: Equatable, Sendable { case requeued, failed }

    /// The node started again and found the job processing: it stopped or crashed meanwhile. The
    /// job is queued to start over, unless it has been attempted `maximumAttempts` times — then it
    /// fails, so that a series that crashes the node cannot do so forever.
    public mutating func nodeRestarted(at now: Date, maximumAttempts: Int) throws(LifecycleError) -> Interruption {
        try interrupted(
            at: now, maximumAttempts: maximumAttempts, cause: "the node stopped or crashed while processing")
    }

    /// The job's node stopped renewing its lease (killed, machine gone, cut off from the
    /// database): another node takes the job over, under the same attempt limit as a restart.
    public mutating func leaseExpired(at now: Date, maximumAttempts: Int) throws(LifecycleError) -> Interruption {
        let node = leaseOwner ?? "its node"
        return try interrupted(
            at: now, maximumAttempts: maximumAttempts, cause: "\(node) stopped answering while processing")
    }

    private mutating func interrupted(
        at now: Date, maximumAttempts: Int, cause: String
    ) throws(LifecycleError) -> Interruption {
        try require([.processing], "interrupted")
        leaseOwner = nil
        leaseUntil = nil
        if attempts >= maximumAttempts {
            state = .failed
            reason = "interrupted \(attempts) times (\(cause))"
            finishedAt = now
            return .failed
        }
        state = .queued
        step = .assemble
        reason = "interrupted: \(cause)"
        return .requeued
    }

    private func require(_ states: Set<JobState>, _ event: String) throws(LifecycleError) {
        guard states.contains(state) else {
            throw LifecycleError(subject: "job \(id.map(String.init) ?? "(new)")", state: state.rawValue, event: event)
        }
    }
}

extension [JobRecord] {
    /// How the jobs of one subject version stand for their subject: nil while one is queued or
    /// running, else done (with the models' notes) or failed (with the failed models' reasons).
    /// With several models each reason is prefixed by its model.
    public var outcome: JobsOutcome? {
        if contains(where: { $0.state == .queued || $0.state == .processing }) { return nil }
        let failed = filter { $0.state == .failed }
        let relevant = failed.isEmpty ? self : failed
        let reasons = relevant.compactMap { job in job.reason.map { count > 1 ? "\(job.model): \($0)" : $0 } }
        let text = reasons.isEmpty ? nil : reasons.joined(separator: "; ")
        return failed.isEmpty ? .done(note: text) : .failed(reason: text ?? "failed")
    }
}
