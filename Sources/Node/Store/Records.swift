import Foundation
import GRDB
import Pipeline

/// One received instance: durable on disk (fsync'd) before this row commits, and the row commits
/// before the C-STORE response is sent.
public struct InstanceRecord: Codable, Sendable, Equatable, FetchableRecord, PersistableRecord {
    public static let databaseTableName = "instance"
    public var sopInstanceUID: String
    public var sopClassUID: String
    public var seriesInstanceUID: String
    public var studyInstanceUID: String
    public var path: String
    public var transferSyntaxUID: String
    public var callingAETitle: String
    public var calledAETitle: String
    public var sourceAddress: String
    public var associationID: String
    public var receivedAt: Date

    public init(
        sopInstanceUID: String, sopClassUID: String, seriesInstanceUID: String, studyInstanceUID: String, path: String,
        transferSyntaxUID: String, callingAETitle: String, calledAETitle: String, sourceAddress: String,
        associationID: String, receivedAt: Date
    ) {
        self.sopInstanceUID = sopInstanceUID
        self.sopClassUID = sopClassUID
        self.seriesInstanceUID = seriesInstanceUID
        self.studyInstanceUID = studyInstanceUID
        self.path = path
        self.transferSyntaxUID = transferSyntaxUID
        self.callingAETitle = callingAETitle
        self.calledAETitle = calledAETitle
        self.sourceAddress = sourceAddress
        self.associationID = associationID
        self.receivedAt = receivedAt
    }
}

/// The life of a series in the node (SeriesLifecycle.swift has the transitions):
/// receiving → stable (complete; a study-level route waits for its study) → queued → processing
/// → done | failed; `unrouted` when no route applies (stored and reported, never processed).
public enum SeriesState: String, Codable, Sendable, DatabaseValueConvertible, CaseIterable {
    case receiving, stable, queued, processing, done, failed, unrouted
}

/// The life of a study collecting the channels of a study-level route (StudyLifecycle.swift):
/// receiving → queued → processing → done | failed (also failed when a channel never came).
public enum StudyState: String, Codable, Sendable, DatabaseValueConvertible, CaseIterable {
    case receiving, queued, processing, done, failed
}

/// The life of a job (JobLifecycle.swift): queued → processing → done | failed; an interrupted
/// job goes back to queued.
public enum JobState: String, Codable, Sendable, DatabaseValueConvertible, CaseIterable {
    case queued, processing, done, failed
}

/// What a job is about: one series, or the series of a study-level route's channels.
public enum JobLevel: String, Codable, Sendable, DatabaseValueConvertible {
    case series, study
}

/// A series as the tracker sees it. Deadlines are stored, not timers, so they survive a restart.
public struct SeriesRecord: Codable, Sendable, Equatable, FetchableRecord, PersistableRecord {
    public static let databaseTableName = "series"
    public var seriesInstanceUID: String
    public var studyInstanceUID: String
    public var state: SeriesState
    public var reason: String?
    /// The route chosen when the first instance arrived (nil: no route applied).
    public var route: String?
    /// Study-level routes: the channel this series fills.
    public var channel: String?
    public var instanceCount: Int
    /// The count the data announces (e.g. Images in Acquisition), when it does.
    public var expectedCount: Int?
    public var firstReceivedAt: Date
    public var lastReceivedAt: Date
    /// Stable at the earliest of these (quiet time since the last instance; hard cap).
    public var quietDeadline: Date
    public var hardDeadline: Date
    /// Incremented when a late instance re-opens a processed series: a new result version.
    public var version: Int
    public var correlationID: String
    /// The association that last added an instance while it is still open (node-run-qualified
    /// id); nil once it ended. Still set at a restart: the series was arriving when the node stopped.
    public var feedingAssociation: String? = nil
    /// Why the series may be incomplete (an association that added to it ended abnormally, or the
    /// node stopped while it was arriving); nil when not. While set, quiet time alone does not
    /// complete the series (docs/node-behaviour.md, Interrupted series).
    public var interruption: String? = nil
}

/// A study collecting the channels of a study-level route.
public struct StudyRecord: Codable, Sendable, Equatable, FetchableRecord, PersistableRecord {
    public static let databaseTableName = "study"
    public var studyInstanceUID: String
    public var route: String
    public var state: StudyState
    public var reason: String?
    public var firstReceivedAt: Date
    public var lastReceivedAt: Date
    public var quietDeadline: Date
    public var giveUpDeadline: Date
    public var version: Int
    public var correlationID: String
}

/// The steps of a job, in order, as recorded while it runs (the API shows how far a job got and
/// where it failed). A job interrupted by a stop or crash starts over at `assemble`: a step's
/// output (volumes, probabilities) lives in memory only, every step is deterministic, and the
/// results of a half-finished attempt were never sent.
public enum JobStep: String, Codable, Sendable, DatabaseValueConvertible, CaseIterable {
    case assemble, infer, encode, finished

    /// The job's step for a step of the result producer.
    public init(_ step: ResultProducer.Step) {
        switch step {
        case .assemble: self = .assemble
        case .infer: self = .infer
        case .encode: self = .encode
        }
    }
}

public struct JobRecord: Codable, Sendable, Equatable, FetchableRecord, MutablePersistableRecord {
    public static let databaseTableName = "job"
    public var id: Int64?
    public var route: String
    public var model: String
    /// The series or study UID the job is about.
    public var subjectUID: String
    public var level: JobLevel
    public var version: Int
    public var state: JobState
    public var step: JobStep
    public var attempts: Int
    public var reason: String?
    /// The input series by channel name (`image` for a series-level job); a JSON column.
    public var inputs: [String: [String]]
    /// Seconds per step; a JSON column.
    public var timings: [String: Double]
    /// What the results must say about their input (e.g. that a series may be incomplete);
    /// written into the SR. A JSON column.
    public var caveats: [String] = []
    public var correlationID: String
    public var createdAt: Date
    public var startedAt: Date?
    public var finishedAt: Date?
    /// The node running the job (`node.name`), from its claim until it settles or is re-queued.
    public var leaseOwner: String? = nil
    /// With several nodes: when the job is taken from its node unless renewed (the database's clock).
    public var leaseUntil: Date? = nil

    public mutating func didInsert(_ inserted: InsertionSuccess) { id = inserted.rowID }
}

/// One produced object for one destination (docs/node-behaviour.md, Sending: one entry per
/// object × destination).
public enum OutboxState: String, Codable, Sendable, DatabaseValueConvertible, CaseIterable {
    case pending, sent, parked
}

public struct OutboxRecord: Codable, Sendable, Equatable, FetchableRecord, MutablePersistableRecord {
    public static let databaseTableName = "outbox"
    public var id: Int64?
    public var jobID: Int64?
    public var path: String
    public var sopInstanceUID: String
    public var destination: String
    public var state: OutboxState
    public var attempts: Int
    public var nextAttemptAt: Date
    public var createdAt: Date
    public var lastAttemptAt: Date?
    /// The last C-STORE status (hex, e.g. `0000`, `A700`) or nil before the first attempt.
    public var lastStatus: String?
    public var lastError: String?
    /// When the destination acknowledged it (the end of the association that carried it).
    public var sentAt: Date?
    /// Seconds the association of the last attempt took, from connecting to releasing.
    public var sendSeconds: Double?
    public var correlationID: String

    public mutating func didInsert(_ inserted: InsertionSuccess) { id = inserted.rowID }
}
