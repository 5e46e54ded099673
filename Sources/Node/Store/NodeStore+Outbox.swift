import Foundation
import GRDB

extension NodeStore {
    /// Adds one outbox entry per produced object and destination in one transaction. Entries
    /// are unique per (SOP Instance UID, destination): enqueuing again is a no-op, so a job
    /// re-run after a crash does not send twice.
    public func enqueue(
        objects: [(path: String, sopInstanceUID: String)], destinations: [String], jobID: Int64?,
        correlationID: String, now: Date
    ) throws {
        try database.writer.write { db in
            try Self.enqueue(objects, destinations, jobID: jobID, correlationID: correlationID, now: now, db)
        }
    }

    /// The entries of `enqueue`, inside the caller's transaction.
    static func enqueue(
        _ objects: [(path: String, sopInstanceUID: String)], _ destinations: [String], jobID: Int64?,
        correlationID: String, now: Date, _ db: Database
    ) throws {
        for object in objects {
            for destination in destinations {
                var entry = OutboxRecord(
                    id: nil, jobID: jobID, path: object.path, sopInstanceUID: object.sopInstanceUID,
                    destination: destination, state: .pending, attempts: 0, nextAttemptAt: now,
                    createdAt: now, lastAttemptAt: nil, lastStatus: nil, lastError: nil, sentAt: nil, sendSeconds: nil,
                    correlationID: correlationID)
                try entry.insert(db, onConflict: .ignore)
            }
        }
    }

    /// Pending entries whose next attempt is due, oldest first.
    public func dueOutboxEntries(now: Date, limit: Int = 500) throws -> [OutboxRecord] {
        try database.writer.read { db in
            try OutboxRecord
                .filter(Column("state") == OutboxState.pending.rawValue && Column("nextAttemptAt") <= now)
                .order(Column("nextAttemptAt"), Column("id"))
                .limit(limit)
                .fetchAll(db)
        }
    }

    /// The outcome of one C-STORE of one entry.
    public enum SendOutcome: Sendable {
        case sent(status: UInt16)
        case failed(status: UInt16?, error: String)
        /// Not attempted, because no attempt can succeed (its destination is no longer
        /// configured): the entry is parked at once for a person to decide, never dropped.
        case undeliverable(reason: String)
    }

    /// Records an attempt: sent entries are done; failures get their next attempt time or are
    /// parked after the give-up time (docs/node-behaviour.md, Sending); undeliverable entries are
    /// parked without an attempt. `now` is when the attempt started, `seconds` how long its
    /// association took. Returns the updated entry.
    @discardableResult
    public func recordAttempt(
        entryID: Int64, outcome: SendOutcome, policy: RetryPolicy, now: Date, seconds: Double? = nil,
        unit: Double = Double.random(in: 0..<1)
    ) throws -> OutboxRecord? {
        try database.writer.write { db -> OutboxRecord? in
            guard var entry = try OutboxRecord.fetchOne(db, key: entryID) else { return nil }
            entry.apply(outcome, policy: policy, now: now, seconds: seconds, unit: unit)
            try entry.update(db)
            return entry
        }
    }

    /// Re-queues parked entries (all, or one job's) for an immediate attempt; the give-up clock
    /// restarts. Returns how many were re-queued.
    @discardableResult
    public func retryParked(jobID: Int64? = nil, now: Date) throws -> Int {
        try database.writer.write { db in
            var request = OutboxRecord.filter(Column("state") == OutboxState.parked.rawValue)
            if let jobID { request = request.filter(Column("jobID") == jobID) }
            return try request.updateAll(
                db, Column("state").set(to: OutboxState.pending.rawValue),
                Column("nextAttemptAt").set(to: now), Column("createdAt").set(to: now))
        }
    }

    public func outbox(state: OutboxState? = nil) throws -> [OutboxRecord] {
        try database.writer.read { db in
            var request = OutboxRecord.order(Column("id"))
            if let state { request = request.filter(Column("state") == state.rawValue) }
            return try request.fetchAll(db)
        }
    }

    static func hex(_ status: UInt16) -> String {
        let digits = String(status, radix: 16, uppercase: true)
        return String(repeating: "0", count: max(0, 4 - digits.count)) + digits
    }
}

extension OutboxRecord {
    /// What an attempt makes of the entry: sent entries are done; failures get their next
    /// attempt time or are parked after the give-up time (docs/node-behaviour.md, Sending);
    /// undeliverable entries are parked without an attempt.
    mutating func apply(
        _ outcome: NodeStore.SendOutcome, policy: RetryPolicy, now: Date, seconds: Double?, unit: Double
    ) {
        if case .undeliverable(let reason) = outcome {
            state = .parked
            lastError = reason
            return
        }
        attempts += 1
        lastAttemptAt = now
        sendSeconds = seconds
        switch outcome {
        case .undeliverable:
            break // handled above: no attempt was made
        case .sent(let status):
            state = .sent
            sentAt = now.addingTimeInterval(seconds ?? 0)
            lastStatus = NodeStore.hex(status)
            lastError = nil
        case .failed(let status, let error):
            lastStatus = status.map(NodeStore.hex)
            lastError = error
            if policy.shouldPark(createdAt: createdAt, now: now) {
                state = .parked
            } else {
                nextAttemptAt = now.addingTimeInterval(policy.delay(afterFailures: attempts, unit: unit))
            }
        }
    }
}
