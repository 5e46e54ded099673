/// The shared database's schema (docs/cluster.md, Schema and migrations): the tables of the SQLite
/// store (`NodeDatabase`, its migrations folded into one), with `timestamptz`, serial ids, `jsonb`
/// for the JSON columns, quoted camel-case column names (the records' own), and what several nodes
/// need besides: a job's lease, and the nodes themselves.
///
/// Migrations run at start, in one transaction under a transaction-scoped advisory lock, so that
/// of nodes starting together one migrates and the others then find it done. A node that finds a
/// newer schema than it knows refuses to start (an older binary must not write a newer schema).
enum PostgreSQLSchema {
    /// `pg_advisory_xact_lock` key of the migrations ("mambanod" in ASCII).
    static let migrationLock: Int64 = 0x6D61_6D62_616E_6F64

    static let migrations: [(version: Int, sql: String)] = [
        (
            1,
            """
            CREATE TABLE instance (
                "sopInstanceUID" text PRIMARY KEY,
                "sopClassUID" text NOT NULL,
                "seriesInstanceUID" text NOT NULL,
                "studyInstanceUID" text NOT NULL,
                "path" text NOT NULL,
                "transferSyntaxUID" text NOT NULL,
                "callingAETitle" text NOT NULL,
                "calledAETitle" text NOT NULL,
                "sourceAddress" text NOT NULL,
                "associationID" text NOT NULL,
                "receivedAt" timestamptz NOT NULL
            );
            CREATE INDEX instance_on_series ON instance ("seriesInstanceUID");
            CREATE INDEX instance_on_study ON instance ("studyInstanceUID");
            CREATE INDEX instance_on_association ON instance ("associationID");
            CREATE TABLE series (
                "seriesInstanceUID" text PRIMARY KEY,
                "studyInstanceUID" text NOT NULL,
                "state" text NOT NULL,
                "reason" text,
                "route" text,
                "channel" text,
                "instanceCount" integer NOT NULL,
                "expectedCount" integer,
                "firstReceivedAt" timestamptz NOT NULL,
                "lastReceivedAt" timestamptz NOT NULL,
                "quietDeadline" timestamptz NOT NULL,
                "hardDeadline" timestamptz NOT NULL,
                "version" integer NOT NULL,
                "correlationID" text NOT NULL,
                "feedingAssociation" text,
                "interruption" text
            );
            CREATE INDEX series_on_study ON series ("studyInstanceUID");
            CREATE INDEX series_on_state ON series ("state");
            CREATE INDEX series_on_feeding_association ON series ("feedingAssociation");
            CREATE TABLE study (
                "studyInstanceUID" text PRIMARY KEY,
                "route" text NOT NULL,
                "state" text NOT NULL,
                "reason" text,
                "firstReceivedAt" timestamptz NOT NULL,
                "lastReceivedAt" timestamptz NOT NULL,
                "quietDeadline" timestamptz NOT NULL,
                "giveUpDeadline" timestamptz NOT NULL,
                "version" integer NOT NULL,
                "correlationID" text NOT NULL
            );
            CREATE INDEX study_on_state ON study ("state");
            CREATE TABLE job (
                "id" bigserial PRIMARY KEY,
                "route" text NOT NULL,
                "model" text NOT NULL,
                "subjectUID" text NOT NULL,
                "level" text NOT NULL,
                "version" integer NOT NULL,
                "state" text NOT NULL,
                "step" text NOT NULL,
                "attempts" integer NOT NULL,
                "reason" text,
                "inputs" jsonb NOT NULL,
                "timings" jsonb NOT NULL,
                "caveats" jsonb NOT NULL DEFAULT '[]',
                "correlationID" text NOT NULL,
                "createdAt" timestamptz NOT NULL,
                "startedAt" timestamptz,
                "finishedAt" timestamptz,
                "leaseOwner" text,
                "leaseUntil" timestamptz,
                UNIQUE ("subjectUID", "version", "route", "model")
            );
            CREATE INDEX job_on_state ON job ("state", "id");
            CREATE TABLE outbox (
                "id" bigserial PRIMARY KEY,
                "jobID" bigint REFERENCES job ("id") ON DELETE SET NULL,
                "path" text NOT NULL,
                "sopInstanceUID" text NOT NULL,
                "destination" text NOT NULL,
                "state" text NOT NULL,
                "attempts" integer NOT NULL,
                "nextAttemptAt" timestamptz NOT NULL,
                "createdAt" timestamptz NOT NULL,
                "lastAttemptAt" timestamptz,
                "lastStatus" text,
                "lastError" text,
                "sentAt" timestamptz,
                "sendSeconds" double precision,
                "correlationID" text NOT NULL,
                UNIQUE ("sopInstanceUID", "destination")
            );
            CREATE INDEX outbox_on_state ON outbox ("state", "nextAttemptAt");
            CREATE TABLE node (
                "name" text PRIMARY KEY,
                "roles" jsonb NOT NULL,
                "startedAt" timestamptz NOT NULL,
                "heartbeatAt" timestamptz NOT NULL
            );
            """
        )
    ]

    static var newestVersion: Int { migrations.map(\.version).max() ?? 0 }
}
