/// An event that the lifecycle of a series, study or job does not allow in its current state
/// (e.g. claiming a job that is already done). The store refuses it and changes nothing: the
/// transaction that carried it rolls back.
public struct LifecycleError: Error, Equatable, Sendable, CustomStringConvertible {
    /// What the event was about: "series 1.2.3", "study 1.2.4", "job 17".
    public var subject: String
    public var state: String
    public var event: String

    public init(subject: String, state: String, event: String) {
        self.subject = subject
        self.state = state
        self.event = event
    }

    public var description: String { "\(subject): '\(event)' is not allowed while \(state)" }
}

/// How the jobs of one subject version ended, once none is queued or running: the subject
/// follows them (failed if any failed). `note` names each model's reason.
public enum JobsOutcome: Equatable, Sendable {
    case done(note: String?)
    case failed(reason: String)
}
