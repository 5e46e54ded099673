import Foundation

/// One job's results in the PACS: the model, when the last instance of its series (or study)
/// arrived, and when the destinations acknowledged the last of its objects. What a department
/// measures the node by: the time from receipt to result (`/api/latency`).
public struct DeliveredJob: Sendable, Equatable {
    public var model: String
    public var lastReceivedAt: Date
    public var deliveredAt: Date

    public init(model: String, lastReceivedAt: Date, deliveredAt: Date) {
        self.model = model
        self.lastReceivedAt = lastReceivedAt
        self.deliveredAt = deliveredAt
    }

    public var seconds: Double { deliveredAt.timeIntervalSince(lastReceivedAt) }

    /// The SQL both stores run: done jobs whose every outbox entry was sent, the last at or after
    /// the parameter, with the last receipt of the job's subject at the job's version (a series or
    /// study re-opened since has a newer version and no longer counts for the old job).
    static func query(since placeholder: String) -> String {
        """
        SELECT j."model", COALESCE(s."lastReceivedAt", st."lastReceivedAt") AS "received", MAX(o."sentAt") AS "delivered"
        FROM job j JOIN outbox o ON o."jobID" = j."id"
        LEFT JOIN series s ON j."level" = 'series' AND s."seriesInstanceUID" = j."subjectUID" AND s."version" = j."version"
        LEFT JOIN study st ON j."level" = 'study' AND st."studyInstanceUID" = j."subjectUID" AND st."version" = j."version"
        WHERE j."state" = 'done'
        GROUP BY j."id", j."model", s."lastReceivedAt", st."lastReceivedAt"
        HAVING COUNT(*) = COUNT(o."sentAt") AND MAX(o."sentAt") >= \(placeholder)
            AND COALESCE(s."lastReceivedAt", st."lastReceivedAt") IS NOT NULL
        ORDER BY j."id"
        """
    }
}

/// Receipt → result latency per model: how many jobs, the median and 95th percentile (nearest
/// rank) in seconds, and jobs per hour over the window.
public struct ModelLatency: Sendable, Equatable, Encodable {
    public var model: String
    public var results: Int
    public var p50Seconds: Double
    public var p95Seconds: Double
    public var resultsPerHour: Double

    /// One entry per model of `jobs`, by model name; `hours` is the window's length.
    public static func summarise(_ jobs: [DeliveredJob], hours: Double) -> [ModelLatency] {
        Dictionary(grouping: jobs, by: \.model).sorted { $0.key < $1.key }.map { model, jobs in
            let seconds = jobs.map(\.seconds).sorted()
            func percentile(_ p: Double) -> Double {
                seconds[max(0, Int((p * Double(seconds.count)).rounded(.up)) - 1)]
            }
            return ModelLatency(
                model: model, results: jobs.count, p50Seconds: percentile(0.5), p95Seconds: percentile(0.95),
                resultsPerHour: Double(jobs.count) / hours)
        }
    }
}
