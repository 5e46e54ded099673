import Foundation
import PostgresNIO

extension PostgreSQLNodeStore {
    /// `NodeStore.enqueue` in PostgreSQL: one entry per object and destination, unique per
    /// (SOP Instance UID, destination), so a job re-run after a takeover does not send twice.
    static func enqueue(
        _ objects: [(path: String, sopInstanceUID: String)], _ destinations: [String], jobID: Int64?,
        correlationID: String, now: Date, _ t: PostgreSQLTransaction
    ) async throws {
        for object in objects {
            for destination in destinations {
                let entry = OutboxRecord(
                    id: nil, jobID: jobID, path: t.stored(object.path), sopInstanceUID: object.sopInstanceUID,
                    destination: destination, state: .pending, attempts: 0, nextAttemptAt: now, createdAt: now,
                    lastAttemptAt: nil, lastStatus: nil, lastError: nil, sentAt: nil, sendSeconds: nil,
                    correlationID: correlationID)
                _ = try await t.insertIfAbsent(entry, into: .outbox)
            }
        }
    }

    public func dueOutboxEntries(now: Date, limit: Int) async throws -> [OutboxRecord] {
        try await read("read the due outbox entries") { t in
            try await t.records(
                OutboxRecord.self,
                #"""
                SELECT row_to_json(t)::text FROM outbox t WHERE "state" = 'pending' AND "nextAttemptAt" <= $1::timestamptz
                ORDER BY "nextAttemptAt", "id" LIMIT $2
                """#, [PostgreSQLTimestamp.format(now), limit]
            ).map { entry in
                var entry = entry
                entry.path = t.local(entry.path)
                return entry
            }
        }
    }

    /// `NodeStore.recordAttempt`, on the row locked for the transaction.
    @discardableResult
    public func recordAttempt(
        entryID: Int64, outcome: NodeStore.SendOutcome, policy: RetryPolicy, now: Date, seconds: Double?,
        unit: Double
    ) async throws -> OutboxRecord? {
        try await transaction("record a send attempt of outbox entry \(entryID)") { t -> OutboxRecord? in
            guard var entry = try await t.fetch(OutboxRecord.self, from: .outbox, key: entryID, locking: true) else {
                return nil
            }
            entry.apply(outcome, policy: policy, now: now, seconds: seconds, unit: unit)
            try await t.update(entry, in: .outbox, key: entryID)
            entry.path = t.local(entry.path)
            return entry
        }
    }

    public func retryParked(jobID: Int64?, now: Date) async throws -> Int {
        try await transaction("re-queue parked outbox entries") { t in
            let stamp = PostgreSQLTimestamp.format(now)
            let sql = #"""
                UPDATE outbox SET "state" = 'pending', "nextAttemptAt" = $1::timestamptz, "createdAt" = $1::timestamptz
                WHERE "state" = 'parked'
                """#
            if let jobID {
                return try await t.execute(sql + #" AND "jobID" = $2 RETURNING "id""#, [stamp, jobID]).count
            }
            return try await t.execute(sql + #" RETURNING "id""#, [stamp]).count
        }
    }

    public func outbox(state: OutboxState?) async throws -> [OutboxRecord] {
        try await read("read the outbox") { t in
            let entries: [OutboxRecord]
            if let state {
                entries = try await t.records(
                    OutboxRecord.self, #"SELECT row_to_json(t)::text FROM outbox t WHERE "state" = $1 ORDER BY "id""#,
                    [state.rawValue])
            } else {
                entries = try await t.records(
                    OutboxRecord.self, #"SELECT row_to_json(t)::text FROM outbox t ORDER BY "id""#)
            }
            return entries.map { entry in
                var entry = entry
                entry.path = t.local(entry.path)
                return entry
            }
        }
    }

    public func holdsSender(for destination: String) async -> Bool {
        await senders.hold(destination)
    }
}
