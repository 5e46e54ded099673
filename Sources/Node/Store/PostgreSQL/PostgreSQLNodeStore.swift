import Foundation
import Logging
import NIOCore
import PostgresNIO
import ServiceLifecycle
import Synchronization

/// The node's durable state in a PostgreSQL database that several nodes share (docs/cluster.md):
/// the same operations as the embedded `NodeStore`, each one transaction, made safe for nodes
/// acting at once:
/// - a series or study is changed under a transaction-scoped advisory lock on its UID, so a series
///   received through two nodes is one series and is closed, with its jobs, once;
/// - a job is claimed with `FOR UPDATE SKIP LOCKED` and held with a lease on the database's clock,
///   renewed by this node's heartbeat; an expired lease puts the job back in the queue (an
///   interruption, counted like a restart);
/// - each destination's sender runs on the node holding that destination's session-level
///   advisory lock (`SenderLocks`), which a dead node's session gives up;
/// - new jobs are announced with `NOTIFY`, so idle workers on every node wake at once.
public final class PostgreSQLNodeStore: NodeStateStore {
    public let router: Router
    public let name: String
    public let location: PostgreSQLLocation
    let roles: Set<NodeRole>
    let storeRoot: String
    /// Seconds a claimed job stays this node's without renewal.
    let lease: Double
    let logger: Logger
    let client: PostgresClient
    let senders: SenderLocks
    /// Signalled when another node (or this one) queued jobs: idle workers look at once.
    public let jobsQueued = WakeSignal()
    /// The jobs this node is running, whose leases its heartbeat renews.
    let running = Mutex<Set<Int64>>([])
    let startedAt = Date()

    static let jobsChannel = "mambanode_jobs"

    public init(
        location: PostgreSQLLocation, router: Router, name: String, roles: Set<NodeRole>, storeRoot: String,
        lease: Double, logger: Logger
    ) {
        self.location = location
        self.router = router
        self.name = name
        self.roles = roles
        self.storeRoot = (storeRoot as NSString).standardizingPath
        self.lease = lease
        self.logger = logger
        let configuration = Self.connectionConfiguration(location)
        let poolTLS: PostgresClient.Configuration.TLS
        switch location.tls {
        case .disable: poolTLS = .disable
        case .prefer: poolTLS = .prefer(.makeClientConfiguration())
        case .require: poolTLS = .require(.makeClientConfiguration())
        }
        var pool = PostgresClient.Configuration(
            host: location.host, port: location.port, username: location.user, password: location.password,
            database: location.database, tls: poolTLS)
        pool.options.additionalStartupParameters = Self.sessionParameters
        pool.options.maximumConnections = 12
        pool.options.connectTimeout = .seconds(5)
        client = PostgresClient(configuration: pool, backgroundLogger: logger)
        senders = SenderLocks(configuration: configuration, logger: logger)
    }

    /// Every session answers in UTC (`PostgreSQLTimestamp` reads what `row_to_json` writes) and
    /// names the node in `pg_stat_activity`.
    static var sessionParameters: [(String, String)] { [("TimeZone", "UTC"), ("application_name", "mambanode")] }

    static func connectionConfiguration(_ location: PostgreSQLLocation) -> PostgresConnection.Configuration {
        let tls: PostgresConnection.Configuration.TLS
        switch location.tls {
        case .disable: tls = .disable
        case .prefer: tls = .prefer(try! .init(configuration: .makeClientConfiguration()))
        case .require: tls = .require(try! .init(configuration: .makeClientConfiguration()))
        }
        var configuration = PostgresConnection.Configuration(
            host: location.host, port: location.port, username: location.user, password: location.password,
            database: location.database, tls: tls)
        configuration.options.additionalStartupParameters = sessionParameters
        configuration.options.connectTimeout = .seconds(5)
        return configuration
    }

    // MARK: Running

    public func withRunning<T: Sendable>(migrating: Bool, _ body: @Sendable () async throws -> T) async throws -> T {
        try await withThrowingTaskGroup(of: Void.self, returning: T.self) { group in
            group.addTask { await self.client.run() }
            if roles.contains(.work) {
                group.addTask { await self.listenForJobs() }
            }
            defer { group.cancelAll() }
            if migrating { try await migrate() }
            let result = try await body()
            await senders.releaseAll()
            return result
        }
    }

    /// Brings the schema up to date under the migration lock; refuses a newer schema.
    func migrate() async throws {
        try await transaction("migrate the schema", retrying: false) { t in
            try await t.execute("SELECT pg_advisory_xact_lock($1)", [PostgreSQLSchema.migrationLock])
            try await t.execute(
                """
                CREATE TABLE IF NOT EXISTS schema_migrations (
                    "version" integer PRIMARY KEY, "appliedAt" timestamptz NOT NULL DEFAULT now(), "node" text NOT NULL)
                """)
            let applied = Set(
                try await t.execute(#"SELECT "version" FROM schema_migrations"#).map { try $0.decode(Int.self) })
            if let newest = applied.max(), newest > PostgreSQLSchema.newestVersion {
                throw PostgreSQLStoreError(
                    operation: "migrate the schema",
                    message: "the database has schema version \(newest), newer than this node's "
                        + "\(PostgreSQLSchema.newestVersion): upgrade this node before starting it")
            }
            for migration in PostgreSQLSchema.migrations where !applied.contains(migration.version) {
                // One statement at a time: the extended protocol takes one per query.
                for statement in migration.sql.components(separatedBy: ";\n") {
                    let sql = statement.trimmingCharacters(in: .whitespacesAndNewlines)
                    if !sql.isEmpty { try await t.execute(sql) }
                }
                try await t.execute(
                    #"INSERT INTO schema_migrations ("version", "node") VALUES ($1, $2)"#,
                    [migration.version, self.name])
                self.logger.notice(
                    "database schema migrated",
                    metadata: ["version": "\(migration.version)", "database": "\(location.redacted)"])
            }
        }
    }

    /// Keeps a session listening for `NOTIFY mambanode_jobs` and wakes the workers on each; a lost
    /// session is opened again (the workers poll meanwhile).
    func listenForJobs() async {
        var connectionID = 1_000
        while !Task.isCancelled {
            do {
                connectionID += 1
                let connection = try await PostgresConnection.connect(
                    configuration: Self.connectionConfiguration(location), id: connectionID, logger: logger)
                defer { Task { try? await connection.close() } }
                try await connection.listen(on: Self.jobsChannel) { notifications in
                    self.jobsQueued.signal() // anything queued while no one listened
                    for try await _ in notifications { self.jobsQueued.signal() }
                }
            } catch {
                if Task.isCancelled { return }
                logger.warning(
                    "job notifications lost, polling until they are back",
                    metadata: ["error": "\(PostgreSQLStoreError(operation: "listen", error))"])
            }
            try? await Task.sleep(for: .seconds(2))
        }
    }

    /// Runs `body` in one transaction; a deadlock or serialisation failure (which undid the
    /// transaction) is retried a few times before it is reported.
    func transaction<T: Sendable>(
        _ operation: String, retrying: Bool = true, _ body: (PostgreSQLTransaction) async throws -> T
    ) async throws -> T {
        var attempt = 0
        while true {
            attempt += 1
            do {
                return try await client.withConnection { connection in
                    try await connection.withTransaction(logger: logger) { connection in
                        try await body(
                            PostgreSQLTransaction(connection: connection, logger: logger, storeRoot: storeRoot))
                    }
                }
            } catch {
                let failure = PostgreSQLStoreError(operation: operation, error)
                if retrying, failure.isRetryable, attempt < 5 {
                    try await Task.sleep(for: .milliseconds(20 * attempt))
                    continue
                }
                throw failure
            }
        }
    }

    /// A read outside any transaction.
    func read<T: Sendable>(_ operation: String, _ body: (PostgreSQLTransaction) async throws -> T) async throws -> T {
        do {
            return try await client.withConnection { connection in
                try await body(PostgreSQLTransaction(connection: connection, logger: logger, storeRoot: storeRoot))
            }
        } catch {
            throw PostgreSQLStoreError(operation: operation, error)
        }
    }

    // MARK: Receiving

    public func record(
        _ instance: InstanceArrival, correlationID: String, durability: NodeStore.Durability
    ) async throws -> NodeStore.RecordOutcome {
        let router = self.router
        return try await transaction("record instance \(instance.record.sopInstanceUID)") { t in
            // Study before series, as everywhere: two nodes receiving one series take turns.
            try await t.lock(instance.record.studyInstanceUID)
            try await t.lock(instance.record.seriesInstanceUID)
            var row = instance.record
            row.path = t.stored(row.path)
            guard try await t.insertIfAbsent(row, into: .instance) else {
                // Stored before (by this node or another): answered with success, stored once.
                if var series = try await t.fetch(SeriesRecord.self, from: .series, key: row.seriesInstanceUID) {
                    let before = series
                    series.instanceRepeated(association: row.associationID)
                    if series != before { try await t.update(series, in: .series, key: series.seriesInstanceUID) }
                }
                return .duplicate
            }
            let now = row.receivedAt
            var series: SeriesRecord
            let actions: [SeriesRecord.Action]
            if var existing = try await t.fetch(SeriesRecord.self, from: .series, key: row.seriesInstanceUID) {
                actions = existing.instanceArrived(
                    at: now, expectedCount: instance.expectedCount, association: row.associationID,
                    route: router.route(named: existing.route), unroutedQuiet: router.unroutedQuietTime)
                series = existing
                try await t.update(series, in: .series, key: series.seriesInstanceUID)
            } else {
                let route = router.route(for: instance.routing)
                (series, actions) = SeriesRecord.started(
                    uid: row.seriesInstanceUID, study: row.studyInstanceUID, route: route,
                    unroutedQuiet: router.unroutedQuietTime,
                    channel: route.flatMap { Router.channel(of: $0, for: instance.routing)?.name },
                    reason: route == nil ? router.unmatchedReason(instance.routing) : nil,
                    expectedCount: instance.expectedCount, association: row.associationID, at: now,
                    correlationID: correlationID)
                try await t.insert(series, into: .series)
            }
            try await Self.perform(actions, for: series, t, router: router, now: now)
            return .stored(series)
        }
    }

    public func associationEnded(
        _ association: String, normally: Bool, how: String, callingAETitle: String
    ) async throws {
        let router = self.router
        let sent = try await read("find the series of association \(association)") { t in
            var sent: [String: (study: String, count: Int)] = [:]
            for row in try await t.execute(
                #"SELECT "seriesInstanceUID", "studyInstanceUID", COUNT(*)::integer FROM instance WHERE "associationID" = $1 GROUP BY 1, 2"#,
                [association])
            {
                let (series, study, count) = try row.decode((String, String, Int).self)
                sent[series] = (study, count)
            }
            for row in try await t.execute(
                #"SELECT "seriesInstanceUID", "studyInstanceUID" FROM series WHERE "feedingAssociation" = $1"#,
                [association])
            {
                let (series, study) = try row.decode((String, String).self)
                if sent[series] == nil { sent[series] = (study, 0) }
            }
            return sent
        }
        for (uid, origin) in sent {
            try await transaction("record the end of association \(association)") { t in
                try await t.lock(origin.study)
                try await t.lock(uid)
                guard var series = try await t.fetch(SeriesRecord.self, from: .series, key: uid),
                    series.state == .receiving
                else { return }
                let description =
                    "the association from \(callingAETitle) that sent \(origin.count) new instance\(origin.count == 1 ? "" : "s")"
                    + " of it ended abnormally (\(how))"
                series.associationEnded(
                    association, normally: normally, how: description, route: router.route(named: series.route),
                    unroutedQuiet: router.unroutedQuietTime)
                try await t.update(series, in: .series, key: uid)
            }
        }
    }

    public func closeStableSeries(now: Date) async throws -> [JobRecord] {
        let receiving = try await read("find receiving series") { t in
            try await t.records(
                SeriesRecord.self, #"SELECT row_to_json(t)::text FROM series t WHERE "state" = 'receiving'"#)
        }
        var jobs: [JobRecord] = []
        for series in receiving where series.completion(at: now, route: router.route(named: series.route)) != nil {
            jobs += try await close(series: series, now: now)
        }
        return jobs
    }

    private func close(series candidate: SeriesRecord, now: Date) async throws -> [JobRecord] {
        let router = self.router
        return try await transaction("close series \(candidate.seriesInstanceUID)") { t in
            try await t.lock(candidate.studyInstanceUID)
            try await t.lock(candidate.seriesInstanceUID)
            // Re-read under the lock: an instance may have arrived, or another node closed it.
            guard var series = try await t.fetch(SeriesRecord.self, from: .series, key: candidate.seriesInstanceUID)
            else { return [] }
            let route = router.route(named: series.route)
            guard let completion = series.completion(at: now, route: route) else { return [] }
            let actions = try series.complete(completion, route: route)
            try await t.update(series, in: .series, key: series.seriesInstanceUID)
            return try await Self.perform(actions, for: series, t, router: router, now: now)
        }
    }

    /// `NodeStore.perform` in PostgreSQL: the series event's jobs and study updates, in its
    /// transaction (which holds the study's lock).
    @discardableResult
    static func perform(
        _ actions: [SeriesRecord.Action], for series: SeriesRecord, _ t: PostgreSQLTransaction, router: Router,
        now: Date
    ) async throws -> [JobRecord] {
        var jobs: [JobRecord] = []
        for action in actions {
            switch action {
            case .queueJobs(let route, let models, let caveats):
                for var job in series.queuedJobs(route: route, models: models, caveats: caveats, at: now) {
                    job.id = try await t.insert(job, into: .job)
                    jobs.append(job)
                }
            case .touchStudy(let name):
                guard let route = router.route(named: name) else { continue }
                let existing = try await t.fetch(StudyRecord.self, from: .study, key: series.studyInstanceUID)
                let study = StudyRecord.touched(existing, by: series, route: route, at: now)
                if existing == nil {
                    try await t.insert(study, into: .study)
                } else {
                    try await t.update(study, in: .study, key: study.studyInstanceUID)
                }
            }
        }
        if !jobs.isEmpty { try await t.notifyJobsQueued() }
        return jobs
    }

    // MARK: Reading

    public func instances(ofSeries uid: String) async throws -> [InstanceRecord] {
        try await read("read the instances of series \(uid)") { t in
            try await t.records(
                InstanceRecord.self,
                #"SELECT row_to_json(t)::text FROM instance t WHERE "seriesInstanceUID" = $1"#, [uid]
            ).map { record in
                var record = record
                record.path = t.local(record.path)
                return record
            }
        }
    }

    public func allSeries() async throws -> [SeriesRecord] {
        try await read("read the series") { t in
            try await t.records(
                SeriesRecord.self, #"SELECT row_to_json(t)::text FROM series t ORDER BY "firstReceivedAt""#)
        }
    }

    public func deliveredJobs(since: Date) async throws -> [DeliveredJob] {
        try await read("read delivered jobs") { t in
            try await t.execute(
                "SELECT d.\"model\", to_json(d.\"received\")::text, to_json(d.\"delivered\")::text FROM ("
                    + DeliveredJob.query(since: "$1::timestamptz") + ") AS d", [PostgreSQLTimestamp.format(since)]
            ).compactMap { row in
                let (model, received, delivered) = try row.decode((String, String, String).self)
                guard let from = Self.timestamp(json: received), let to = Self.timestamp(json: delivered) else {
                    return nil
                }
                return DeliveredJob(model: model, lastReceivedAt: from, deliveredAt: to)
            }
        }
    }

    public func series(_ listing: Listing) async throws -> [SeriesRecord] {
        try await read("list series") { t in try await Self.list(SeriesRecord.self, .series, listing, t) }
    }

    public func jobs(_ listing: Listing) async throws -> [JobRecord] {
        try await read("list jobs") { t in try await Self.list(JobRecord.self, .job, listing, t) }
    }

    public func outbox(_ listing: Listing) async throws -> [OutboxRecord] {
        try await read("list the outbox") { t in
            try await Self.list(OutboxRecord.self, .outbox, listing, t).map { entry in
                var entry = entry
                entry.path = t.local(entry.path)
                return entry
            }
        }
    }

    static func list<R: Decodable>(
        _ type: R.Type, _ table: Listing.Table, _ listing: Listing, _ t: PostgreSQLTransaction
    ) async throws -> [R] {
        let (clauses, parameters) = listing.clauses(table, .postgreSQL)
        return try await t.records(R.self, "SELECT row_to_json(t)::text FROM \(table.name) t" + clauses, parameters)
    }

    public func series(_ uid: String) async throws -> SeriesRecord? {
        try await read("read series \(uid)") { t in try await t.fetch(SeriesRecord.self, from: .series, key: uid) }
    }

    public func jobs(state: JobState?) async throws -> [JobRecord] {
        try await read("read the jobs") { t in
            if let state {
                return try await t.records(
                    JobRecord.self, #"SELECT row_to_json(t)::text FROM job t WHERE "state" = $1 ORDER BY "id""#,
                    [state.rawValue])
            }
            return try await t.records(JobRecord.self, #"SELECT row_to_json(t)::text FROM job t ORDER BY "id""#)
        }
    }

    public func counts() async throws -> NodeStore.Counts {
        try await read("count jobs and outbox entries") { t in
            var jobs: [JobState: Int] = [:]
            for row in try await t.execute(#"SELECT "state", COUNT(*)::integer FROM job GROUP BY 1"#) {
                let (state, count) = try row.decode((String, Int).self)
                if let state = JobState(rawValue: state) { jobs[state] = count }
            }
            var outbox: [OutboxState: Int] = [:]
            for row in try await t.execute(#"SELECT "state", COUNT(*)::integer FROM outbox GROUP BY 1"#) {
                let (state, count) = try row.decode((String, Int).self)
                if let state = OutboxState(rawValue: state) { outbox[state] = count }
            }
            let oldest = try await t.execute(
                #"SELECT to_json(MIN("createdAt"))::text FROM job WHERE "state" = 'queued'"#
            ).first.flatMap { row in Self.timestamp(json: try row.decode(String?.self)) }
            return NodeStore.Counts(jobs: jobs, outbox: outbox, oldestQueuedJob: oldest)
        }
    }

    public func nodes() async throws -> [NodeRecord] {
        try await read("read the nodes") { t in
            try await t.records(NodeRecord.self, #"SELECT row_to_json(t)::text FROM node t ORDER BY "name""#)
        }
    }
}
