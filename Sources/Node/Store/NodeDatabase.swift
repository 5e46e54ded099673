import Foundation
import GRDB

/// The node's durable state in SQLite (the embedded default: docs/architecture.md, Beyond one
/// machine). WAL with `synchronous = FULL`: a committed state change survives power loss. The
/// rows of received instances are the exception (`NodeStore.Durability.withNextFlush`): the
/// storage server syncs the database's file system with the instance files before it
/// acknowledges them, one flush for both (docs/architecture.md, Data flow).
public final class NodeDatabase: Sendable {
    public let writer: DatabasePool
    public let path: String

    public init(path: String) throws {
        self.path = path
        try FileManager.default.createDirectory(
            atPath: (path as NSString).deletingLastPathComponent,
            withIntermediateDirectories: true)
        var configuration = Configuration()
        configuration.prepareDatabase { db in
            try db.execute(sql: "PRAGMA synchronous = FULL")
        }
        configuration.busyMode = .timeout(10)
        writer = try DatabasePool(path: path, configuration: configuration)
        try NodeDatabase.migrator.migrate(writer)
    }

    static var migrator: DatabaseMigrator {
        var migrator = DatabaseMigrator()
        migrator.registerMigration("v1") { db in
            try db.create(table: "instance") { t in
                t.primaryKey("sopInstanceUID", .text)
                t.column("sopClassUID", .text).notNull()
                t.column("seriesInstanceUID", .text).notNull().indexed()
                t.column("studyInstanceUID", .text).notNull().indexed()
                t.column("path", .text).notNull()
                t.column("transferSyntaxUID", .text).notNull()
                t.column("callingAETitle", .text).notNull()
                t.column("calledAETitle", .text).notNull()
                t.column("sourceAddress", .text).notNull()
                t.column("associationID", .text).notNull()
                t.column("receivedAt", .datetime).notNull()
            }
            try db.create(table: "series") { t in
                t.primaryKey("seriesInstanceUID", .text)
                t.column("studyInstanceUID", .text).notNull().indexed()
                t.column("state", .text).notNull().indexed()
                t.column("reason", .text)
                t.column("route", .text)
                t.column("channel", .text)
                t.column("instanceCount", .integer).notNull()
                t.column("expectedCount", .integer)
                t.column("firstReceivedAt", .datetime).notNull()
                t.column("lastReceivedAt", .datetime).notNull()
                t.column("quietDeadline", .datetime).notNull()
                t.column("hardDeadline", .datetime).notNull()
                t.column("version", .integer).notNull()
                t.column("correlationID", .text).notNull()
            }
            try db.create(table: "study") { t in
                t.primaryKey("studyInstanceUID", .text)
                t.column("route", .text).notNull()
                t.column("state", .text).notNull().indexed()
                t.column("reason", .text)
                t.column("firstReceivedAt", .datetime).notNull()
                t.column("lastReceivedAt", .datetime).notNull()
                t.column("quietDeadline", .datetime).notNull()
                t.column("giveUpDeadline", .datetime).notNull()
                t.column("version", .integer).notNull()
                t.column("correlationID", .text).notNull()
            }
            try db.create(table: "job") { t in
                t.autoIncrementedPrimaryKey("id")
                t.column("route", .text).notNull()
                t.column("model", .text).notNull()
                t.column("subjectUID", .text).notNull().indexed()
                t.column("level", .text).notNull()
                t.column("version", .integer).notNull()
                t.column("state", .text).notNull().indexed()
                t.column("step", .text).notNull()
                t.column("attempts", .integer).notNull()
                t.column("reason", .text)
                t.column("inputs", .text).notNull()
                t.column("results", .text).notNull()
                t.column("timings", .text).notNull()
                t.column("correlationID", .text).notNull()
                t.column("createdAt", .datetime).notNull()
                t.column("startedAt", .datetime)
                t.column("finishedAt", .datetime)
                t.uniqueKey(["subjectUID", "version", "route"])
            }
            try db.create(table: "outbox") { t in
                t.autoIncrementedPrimaryKey("id")
                t.column("jobID", .integer).references("job", onDelete: .setNull)
                t.column("path", .text).notNull()
                t.column("sopInstanceUID", .text).notNull()
                t.column("destination", .text).notNull()
                t.column("state", .text).notNull().indexed()
                t.column("attempts", .integer).notNull()
                t.column("nextAttemptAt", .datetime).notNull()
                t.column("createdAt", .datetime).notNull()
                t.column("lastAttemptAt", .datetime)
                t.column("lastStatus", .text)
                t.column("lastError", .text)
                t.column("sentAt", .datetime)
                t.column("correlationID", .text).notNull()
                t.uniqueKey(["sopInstanceUID", "destination"])
            }
        }
        // A route may run several models on one subject: one job per (subject, version, route,
        // model). SQLite cannot change a table's unique constraint, so the job table is rebuilt
        // (SQLite's "12-step" table change); GRDB runs a migration with foreign keys off and checks
        // them before committing, so the outbox's job references are kept as they are.
        migrator.registerMigration("v2-job-per-model") { db in
            try db.create(table: "job_v2") { t in
                t.autoIncrementedPrimaryKey("id")
                t.column("route", .text).notNull()
                t.column("model", .text).notNull()
                t.column("subjectUID", .text).notNull()
                t.column("level", .text).notNull()
                t.column("version", .integer).notNull()
                t.column("state", .text).notNull()
                t.column("step", .text).notNull()
                t.column("attempts", .integer).notNull()
                t.column("reason", .text)
                t.column("inputs", .text).notNull()
                t.column("results", .text).notNull()
                t.column("timings", .text).notNull()
                t.column("correlationID", .text).notNull()
                t.column("createdAt", .datetime).notNull()
                t.column("startedAt", .datetime)
                t.column("finishedAt", .datetime)
                t.uniqueKey(["subjectUID", "version", "route", "model"])
            }
            try db.execute(
                sql:
                    "INSERT INTO job_v2 SELECT id, route, model, subjectUID, level, version, state, step, attempts, reason, inputs, results, timings, correlationID, createdAt, startedAt, finishedAt FROM job"
            )
            try db.drop(table: "job")
            try db.rename(table: "job_v2", to: "job")
            try db.create(index: "job_on_subjectUID", on: "job", columns: ["subjectUID"])
            try db.create(index: "job_on_state", on: "job", columns: ["state"])
        }
        // Produced files are the job's outbox entries; the column that was meant to list them
        // again was never written.
        migrator.registerMigration("v3-drop-job-results") { db in
            try db.alter(table: "job") { t in t.drop(column: "results") }
        }
        // Interrupted series (docs/node-behaviour.md, Interrupted series): which association
        // feeds a series and why it may be incomplete; the caveats a job's results carry; and the
        // instances of an association, found when it ends.
        migrator.registerMigration("v4-interrupted-series") { db in
            try db.alter(table: "series") { t in
                t.add(column: "feedingAssociation", .text)
                t.add(column: "interruption", .text)
            }
            try db.alter(table: "job") { t in t.add(column: "caveats", .text).notNull().defaults(to: "[]") }
            try db.create(index: "instance_on_associationID", on: "instance", columns: ["associationID"])
        }
        // How long the association that delivered an entry took (its network time, shown by
        // `bench node` and the API).
        migrator.registerMigration("v5-send-duration") { db in
            try db.alter(table: "outbox") { t in t.add(column: "sendSeconds", .double) }
        }
        // Which node runs a job (docs/cluster.md, Claims and leases); one node records its own name.
        migrator.registerMigration("v6-job-lease") { db in
            try db.alter(table: "job") { t in
                t.add(column: "leaseOwner", .text)
                t.add(column: "leaseUntil", .datetime)
            }
        }
        return migrator
    }
}
