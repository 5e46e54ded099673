import Foundation
import Logging
import PostgresNIO

/// A table of the shared schema, for the generic row helpers: the node's records go in and out
/// as JSON (`jsonb_populate_record`, `row_to_json`), so one Codable record type serves SQLite
/// (through GRDB) and PostgreSQL alike and no column is mapped by hand twice.
struct PostgreSQLTable: Sendable {
    let name: String
    let key: String
    /// Every column but a serial key (which the database assigns).
    let columns: [String]
    let serialKey: Bool

    static let instance = PostgreSQLTable(
        name: "instance", key: "sopInstanceUID",
        columns: [
            "sopInstanceUID", "sopClassUID", "seriesInstanceUID", "studyInstanceUID", "path", "transferSyntaxUID",
            "callingAETitle", "calledAETitle", "sourceAddress", "associationID", "receivedAt"
        ], serialKey: false)
    static let series = PostgreSQLTable(
        name: "series", key: "seriesInstanceUID",
        columns: [
            "seriesInstanceUID", "studyInstanceUID", "state", "reason", "route", "channel", "instanceCount",
            "expectedCount", "firstReceivedAt", "lastReceivedAt", "quietDeadline", "hardDeadline", "version",
            "correlationID", "feedingAssociation", "interruption"
        ], serialKey: false)
    static let study = PostgreSQLTable(
        name: "study", key: "studyInstanceUID",
        columns: [
            "studyInstanceUID", "route", "state", "reason", "firstReceivedAt", "lastReceivedAt", "quietDeadline",
            "giveUpDeadline", "version", "correlationID"
        ], serialKey: false)
    static let job = PostgreSQLTable(
        name: "job", key: "id",
        columns: [
            "route", "model", "subjectUID", "level", "version", "state", "step", "attempts", "reason", "inputs",
            "timings", "caveats", "correlationID", "createdAt", "startedAt", "finishedAt", "leaseOwner", "leaseUntil"
        ], serialKey: true)
    static let outbox = PostgreSQLTable(
        name: "outbox", key: "id",
        columns: [
            "jobID", "path", "sopInstanceUID", "destination", "state", "attempts", "nextAttemptAt", "createdAt",
            "lastAttemptAt", "lastStatus", "lastError", "sentAt", "sendSeconds", "correlationID"
        ], serialKey: true)

    var quotedColumns: String { columns.map { "\"\($0)\"" }.joined(separator: ", ") }
}

/// A failure of the shared database, in words: what was being done and the server's message and
/// SQLSTATE (postgres-nio's own description hides both).
public struct PostgreSQLStoreError: Error, Sendable, CustomStringConvertible {
    public var operation: String
    public var message: String
    public var sqlState: String?

    public var description: String {
        "PostgreSQL: \(operation): \(message)" + (sqlState.map { " (SQLSTATE \($0))" } ?? "")
    }

    /// A deadlock or serialisation failure: the transaction did nothing and may simply run again.
    var isRetryable: Bool { sqlState == "40P01" || sqlState == "40001" }

    init(operation: String, message: String, sqlState: String? = nil) {
        self.operation = operation
        self.message = message
        self.sqlState = sqlState
    }

    init(operation: String, _ error: any Error) {
        self.operation = operation
        var underlying: any Error = error
        if let transaction = error as? PostgresTransactionError {
            underlying = transaction.closureError ?? transaction.commitError ?? transaction.beginError ?? error
        }
        if let store = underlying as? PostgreSQLStoreError {
            self = store
            return
        }
        if let psql = underlying as? PSQLError {
            sqlState = psql.serverInfo?[.sqlState]
            message = psql.serverInfo?[.message] ?? "\(psql.code)"
        } else {
            sqlState = nil
            message = "\(underlying)"
        }
    }
}

/// One open transaction on the shared database, with the helpers the store's operations use.
/// Paths under the instance store are kept relative to `storeRoot` in the database (each node
/// may mount the shared store elsewhere) and made absolute again on the way out.
struct PostgreSQLTransaction {
    let connection: PostgresConnection
    let logger: Logger
    let storeRoot: String

    static let encoder: JSONEncoder = {
        let encoder = JSONEncoder()
        encoder.dateEncodingStrategy = .custom { date, encoder in
            var container = encoder.singleValueContainer()
            try container.encode(PostgreSQLTimestamp.format(date))
        }
        return encoder
    }()

    static let decoder: JSONDecoder = {
        let decoder = JSONDecoder()
        decoder.dateDecodingStrategy = .custom { decoder in
            let container = try decoder.singleValueContainer()
            let text = try container.decode(String.self)
            guard let date = PostgreSQLTimestamp.parse(text) else {
                throw DecodingError.dataCorruptedError(
                    in: container, debugDescription: "not a PostgreSQL timestamp: \(text)")
            }
            return date
        }
        return decoder
    }()

    /// Runs `sql` with positional parameters `$1…`.
    @discardableResult
    func execute(_ sql: String, _ parameters: [any PostgresDynamicTypeEncodable] = []) async throws -> [PostgresRow] {
        var bindings = PostgresBindings(capacity: parameters.count)
        for parameter in parameters { bindings.append(parameter) }
        return try await connection.query(PostgresQuery(unsafeSQL: sql, binds: bindings), logger: logger).collect()
    }

    /// Rows of a query whose only column is `row_to_json(t)::text`, decoded as records.
    func records<R: Decodable>(
        _ type: R.Type, _ sql: String, _ parameters: [any PostgresDynamicTypeEncodable] = []
    ) async throws -> [R] {
        try await execute(sql, parameters).map { row in
            try Self.decoder.decode(R.self, from: Data(try row.decode(String.self).utf8))
        }
    }

    func record<R: Decodable>(
        _ type: R.Type, _ sql: String, _ parameters: [any PostgresDynamicTypeEncodable] = []
    ) async throws -> R? {
        try await records(type, sql, parameters).first
    }

    /// The row of `table` with key `key`, locked for this transaction when `locking`.
    func fetch<R: Decodable>(
        _ type: R.Type, from table: PostgreSQLTable, key: any PostgresDynamicTypeEncodable, locking: Bool = false
    ) async throws -> R? {
        try await record(
            type,
            "SELECT row_to_json(t)::text FROM \(table.name) t WHERE \"\(table.key)\" = $1"
                + (locking ? " FOR UPDATE" : ""), [key])
    }

    /// Inserts `record`; returns the key the database assigned to a serial table (nil otherwise).
    @discardableResult
    func insert<R: Encodable>(_ record: R, into table: PostgreSQLTable) async throws -> Int64? {
        let rows = try await insertRow(record, into: table, onConflict: "")
        return table.serialKey ? try rows.first?.decode(Int64.self) : nil
    }

    /// Inserts `record` unless a row with its key (or another unique value) exists; whether it did.
    func insertIfAbsent<R: Encodable>(_ record: R, into table: PostgreSQLTable) async throws -> Bool {
        try await insertRow(record, into: table, onConflict: "ON CONFLICT DO NOTHING").count == 1
    }

    private func insertRow<R: Encodable>(
        _ record: R, into table: PostgreSQLTable, onConflict: String
    ) async throws -> [PostgresRow] {
        let columns = table.quotedColumns
        return try await execute(
            """
            INSERT INTO \(table.name) (\(columns)) SELECT \(columns) FROM jsonb_populate_record(NULL::\(table.name), $1::jsonb)
            \(onConflict) RETURNING "\(table.key)"
            """, [try Self.json(record)])
    }

    /// Writes every column of `record` to its row (found by the record's key).
    func update<R: Encodable>(
        _ record: R, in table: PostgreSQLTable, key: any PostgresDynamicTypeEncodable
    )
        async throws
    {
        try await update(record, in: table, key: key, setting: [:])
    }

    /// `update`, with the columns of `setting` given SQL expressions instead of the record's
    /// values (parameters from $3 on: `parameters`); returns the rows of `returning`, if any.
    @discardableResult
    func update<R: Encodable>(
        _ record: R, in table: PostgreSQLTable, key: any PostgresDynamicTypeEncodable, setting: [String: String],
        parameters: [any PostgresDynamicTypeEncodable] = [], returning: String? = nil
    ) async throws -> [PostgresRow] {
        let kept = table.columns.filter { setting[$0] == nil }
        let columns = (kept + setting.keys.sorted()).map { "\"\($0)\"" }.joined(separator: ", ")
        let values = (kept.map { "r.\"\($0)\"" } + setting.keys.sorted().map { setting[$0]! }).joined(separator: ", ")
        return try await execute(
            """
            UPDATE \(table.name) t SET (\(columns)) = (\(values))
            FROM jsonb_populate_record(NULL::\(table.name), $1::jsonb) r WHERE t."\(table.key)" = $2
            \(returning.map { "RETURNING \($0)" } ?? "")
            """, [try Self.json(record), key] + parameters)
    }

    /// Waits for the transaction-scoped lock on `name` (a series or study UID): two nodes
    /// changing the same series or study take turns. Study before series, or the series alone
    /// (settling a job: see `updateSubject`), never the other way round.
    func lock(_ name: String) async throws {
        try await execute("SELECT pg_advisory_xact_lock(hashtextextended($1, 0))", [name])
    }

    /// Wakes the workers of every node (`LISTEN mambanode_jobs`); sent when this transaction commits.
    func notifyJobsQueued() async throws {
        try await execute("NOTIFY \(PostgreSQLNodeStore.jobsChannel)")
    }

    static func json<R: Encodable>(_ record: R) throws -> String {
        String(decoding: try encoder.encode(record), as: UTF8.self)
    }

    // MARK: Paths

    /// `path` as the database keeps it: relative to the store when under it.
    func stored(_ path: String) -> String {
        let prefix = storeRoot.hasSuffix("/") ? storeRoot : storeRoot + "/"
        return path.hasPrefix(prefix) ? String(path.dropFirst(prefix.count)) : path
    }

    /// A stored path made absolute under this node's store.
    func local(_ path: String) -> String { path.hasPrefix("/") ? path : storeRoot + "/" + path }
}

/// `timestamptz` as text both ways, to the microsecond the column keeps (the session's time zone
/// is UTC, so the server writes `2026-12-07T19:15:17.123456+00:00`).
enum PostgreSQLTimestamp {
    static func format(_ date: Date) -> String {
        let seconds = date.timeIntervalSince1970
        var whole = Int(seconds.rounded(.down))
        var micros = Int(((seconds - Double(whole)) * 1_000_000).rounded())
        if micros == 1_000_000 {
            whole += 1
            micros = 0
        }
        var t = time_t(whole)
        var parts = tm()
        gmtime_r(&t, &parts)
        return String(
            format: "%04d-%02d-%02dT%02d:%02d:%02d.%06dZ", parts.tm_year + 1900, parts.tm_mon + 1, parts.tm_mday,
            parts.tm_hour, parts.tm_min, parts.tm_sec, micros)
    }

    static func parse(_ text: String) -> Date? {
        let characters = Array(text.utf8)
        guard characters.count >= 19 else { return nil }
        func number(_ range: Range<Int>) -> Int? { Int(String(decoding: characters[range], as: UTF8.self)) }
        guard let year = number(0..<4), let month = number(5..<7), let day = number(8..<10),
            let hour = number(11..<13), let minute = number(14..<16), let second = number(17..<19)
        else { return nil }
        var index = 19
        var fraction = 0.0
        if index < characters.count, characters[index] == UInt8(ascii: ".") {
            var scale = 0.1
            index += 1
            while index < characters.count, (UInt8(ascii: "0")...UInt8(ascii: "9")).contains(characters[index]) {
                fraction += Double(characters[index] - UInt8(ascii: "0")) * scale
                scale /= 10
                index += 1
            }
        }
        var offset = 0
        if index < characters.count, characters[index] == UInt8(ascii: "+") || characters[index] == UInt8(ascii: "-") {
            let sign = characters[index] == UInt8(ascii: "-") ? -1 : 1
            let rest = String(decoding: characters[(index + 1)...], as: UTF8.self).split(separator: ":")
            let hours = rest.first.flatMap { Int($0) } ?? 0
            let minutes = rest.count > 1 ? Int(rest[1]) ?? 0 : 0
            offset = sign * (hours * 3600 + minutes * 60)
        }
        var parts = tm()
        parts.tm_year = Int32(year - 1900)
        parts.tm_mon = Int32(month - 1)
        parts.tm_mday = Int32(day)
        parts.tm_hour = Int32(hour)
        parts.tm_min = Int32(minute)
        parts.tm_sec = Int32(second)
        let epoch = timegm(&parts)
        return Date(timeIntervalSince1970: Double(epoch - offset) + fraction)
    }
}
