import Foundation
import Logging
import TestSupport
import Testing

@testable import Node

/// The shared store on a private PostgreSQL server (docs/cluster.md): two stores stand for two
/// nodes on one database, as `mambanode serve` processes do in ClusterTests. Each test starts its
/// own server.
@Suite(.serialized) struct PostgreSQLNodeStoreTests {
    let t0 = Date(timeIntervalSince1970: 1_800_000_000)

    /// Two nodes, "a" and "b", on one fresh database, with `lease` seconds of job lease.
    static func withTwoNodes(
        lease: Double = 120,
        _ body: @Sendable (PostgreSQLNodeStore, PostgreSQLNodeStore, RunningPostgreSQL) async throws -> Void
    ) async throws {
        let directory = TemporaryDirectory("pgstore")
        let server = try await RunningPostgreSQL.start(in: directory)
        do {
            let a = try store("a", server: server, root: directory.path + "/store", lease: lease)
            let b = try store("b", server: server, root: directory.path + "/store", lease: lease)
            try await a.withRunning(migrating: true) {
                try await b.withRunning(migrating: true) { try await body(a, b, server) }
            }
        } catch {
            await server.stop()
            throw error
        }
        await server.stop()
    }

    static func store(
        _ name: String, server: RunningPostgreSQL, root: String, lease: Double
    ) throws -> PostgreSQLNodeStore {
        let configuration = try NodeConfiguration.parse(
            """
            storage: { database: "\(server.url)?sslmode=disable", directory: \(root) }
            destinations: [{ name: pacs, ae_title: PACS, host: 127.0.0.1, port: 4242 }]
            models: { organs: /models/organs }
            routes:
              - { name: ct, model: organs, destinations: [pacs], match: [{ tag: Modality, equals: CT }], quiet_time: 10s, hard_cap: 100s }
            """)
        var logger = Logger(label: "test-\(name)")
        logger.logLevel = .warning
        return PostgreSQLNodeStore(
            location: configuration.storage.postgreSQL!, router: Router(configuration), name: name,
            roles: Set(NodeRole.allCases), storeRoot: root, lease: lease, logger: logger)
    }

    func instance(_ n: Int, root: String, series: String = "1.2.3.1", at seconds: Double) -> InstanceArrival {
        InstanceArrival(
            record: InstanceRecord(
                sopInstanceUID: "1.2.3.1.\(n)", sopClassUID: "1.2.840.10008.5.1.4.1.1.2",
                seriesInstanceUID: series, studyInstanceUID: "1.2.3", path: "\(root)/instances/\(n).dcm",
                transferSyntaxUID: "1.2.840.10008.1.2.1", callingAETitle: "CT01", calledAETitle: "MAMBANODE",
                sourceAddress: "127.0.0.1", associationID: "a/1", receivedAt: t0.addingTimeInterval(seconds)),
            expectedCount: nil, routing: RoutingInput(attributes: [.modality: ["CT"]], callingAETitle: "CT01"))
    }

    @Test func aSeriesReceivedThroughTwoNodesIsOneSeriesWithOneJob() async throws {
        let t0 = self.t0
        try await Self.withTwoNodes { a, b, server in
            // Half through each node, concurrently.
            try await withThrowingTaskGroup(of: Void.self) { group in
                for (node, range) in [(a, 0..<10), (b, 10..<20)] {
                    group.addTask {
                        for n in range {
                            _ = try await node.record(
                                instance(n, root: node.storeRoot, at: Double(n)), correlationID: "c",
                                durability: .atCommit)
                        }
                    }
                }
                try await group.waitForAll()
            }
            #expect(
                try await a.record(instance(3, root: a.storeRoot, at: 30), correlationID: "c", durability: .atCommit)
                    == .duplicate)
            let series = try #require(try await b.series("1.2.3.1"))
            #expect(series.instanceCount == 20 && series.state == .receiving)
            // Paths are kept relative to the shared store and come back absolute.
            #expect(try server.psql(#"SELECT DISTINCT left("path", 10) FROM instance"#) == "instances/")
            #expect(
                try await a.instances(ofSeries: "1.2.3.1").allSatisfy { $0.path.hasPrefix(a.storeRoot + "/instances/") }
            )
            // Either tracker looks next at the quiet deadline: 10 s after the last instance.
            let next = try #require(try await b.nextDeadline(after: t0.addingTimeInterval(25)))
            #expect(abs(next.timeIntervalSince(t0) - 29) < 0.001)
            // Both trackers find it stable at once: one job.
            let closing = t0.addingTimeInterval(30)
            async let fromA = a.closeStableSeries(now: closing)
            async let fromB = b.closeStableSeries(now: closing)
            let jobs = try await fromA + fromB
            #expect(jobs.count == 1)
            #expect(try await a.jobs(state: nil).count == 1)
            #expect(try await b.series("1.2.3.1")?.state == .queued)
            #expect(try await a.nextDeadline(after: closing) == nil, "nothing is receiving")
        }
    }

    @Test func everyJobIsClaimedOnceAndSettledByItsHolderOnly() async throws {
        let t0 = self.t0
        try await Self.withTwoNodes { a, b, server in
            for s in 0..<12 {
                _ = try await a.record(
                    instance(s, root: a.storeRoot, series: "1.2.3.\(100 + s)", at: 0), correlationID: "c",
                    durability: .atCommit)
            }
            #expect(try await b.closeStableSeries(now: t0.addingTimeInterval(60)).count == 12)
            // Both nodes claim until the queue is empty, at once.
            let claims = try await withThrowingTaskGroup(of: [(String, Int64)].self) { group in
                for node in [a, b, a, b] {
                    group.addTask {
                        var mine: [(String, Int64)] = []
                        while let job = try await node.claimNextJob(now: t0) { mine.append((node.name, job.id!)) }
                        return mine
                    }
                }
                return try await group.reduce(into: []) { $0 += $1 }
            }
            #expect(claims.count == 12 && Set(claims.map(\.1)).count == 12, "each job claimed once")
            #expect(
                try server.psql(#"SELECT count(*) FROM job WHERE "state" = 'processing' AND "attempts" = 1"#) == "12")
            let (holder, id) = claims[0]
            let (owner, other) = holder == "a" ? (a, b) : (b, a)
            await #expect(throws: PostgreSQLStoreError.self, "only the holder settles a job") {
                try await other.completeJob(jobID: id, deliveries: [], timings: [:], note: nil, now: t0)
            }
            try await owner.completeJob(
                jobID: id,
                deliveries: [.init(destination: "pacs", objects: [(owner.storeRoot + "/results/x.dcm", "9.9")])],
                timings: ["infer": 1], note: nil, now: t0)
            let job = try #require(try await other.jobs(state: .done).first)
            #expect(job.id == id && job.leaseOwner == holder && job.leaseUntil == nil)
            let entry = try #require(try await other.outbox(state: .pending).first)
            #expect(entry.path == other.storeRoot + "/results/x.dcm")
            #expect(try server.psql(#"SELECT "path" FROM outbox"#) == "results/x.dcm")

            // The API's listings, in PostgreSQL's SQL: pages of jobs by id, both ways, filtered.
            var paged: [Int64] = []
            var after: String?
            repeat {
                let page = try await a.jobs(Listing(limit: 5, after: after))
                paged += page.compactMap(\.id)
                after = page.count == 5 ? page.last?.id.map { "\($0)" } : nil
            } while after != nil
            #expect(paged == (try await a.jobs(state: nil)).compactMap(\.id) && paged.count == 12)
            let newest = try await b.jobs(Listing(limit: 3, after: "\(paged[6])", order: .newest)).compactMap(\.id)
            #expect(newest == Array(paged[3..<6].reversed()))
            #expect(try await a.jobs(Listing(filters: ["state": "done"])).compactMap(\.id) == [id])
            #expect(try await a.outbox(Listing(filters: ["jobID": "\(id)"])).map(\.path) == [entry.path])
            let series = try await a.series(Listing(limit: 4, after: "1.2.3.103"))
            #expect(series.map(\.seriesInstanceUID) == (104..<108).map { "1.2.3.\($0)" })

            // Receipt → result: none until the job's one object is acknowledged.
            #expect(try await a.deliveredJobs(since: t0).isEmpty)
            _ = try await b.recordAttempt(
                entryID: try #require(entry.id), outcome: .sent(status: 0),
                policy: RetryPolicy(.init(firstRetry: 30, maximumRetry: 600, giveUpAfter: 86400, jitter: 0)),
                now: t0.addingTimeInterval(100), seconds: nil,
                unit: 0)
            let delivered = try await a.deliveredJobs(since: t0)
            #expect(
                delivered.map(\.model) == ["organs"] && delivered.first.map { abs($0.seconds - 100) < 0.001 } == true)
            #expect(try await a.deliveredJobs(since: t0.addingTimeInterval(101)).isEmpty)
        }
    }

    @Test func aJobWhoseLeaseExpiresIsTakenOverAndCountedAsAnInterruption() async throws {
        let t0 = self.t0
        try await Self.withTwoNodes(lease: 3) { a, b, server in
            _ = try await a.record(instance(1, root: a.storeRoot, at: 0), correlationID: "c", durability: .atCommit)
            _ = try await a.closeStableSeries(now: t0.addingTimeInterval(60))
            let claimed = try #require(try await a.claimNextJob(now: t0))
            #expect(claimed.leaseOwner == "a" && claimed.leaseUntil != nil)
            // A's heartbeat keeps its lease.
            try await Task.sleep(for: .seconds(2))
            try await a.heartbeat(now: Date())
            try await Task.sleep(for: .seconds(2))
            #expect(try await b.reclaimExpiredLeases(maximumAttempts: 3, now: Date()) == (0, 0))
            // A stops answering: after its lease, B takes the job.
            try await Task.sleep(for: .seconds(3.5))
            #expect(try await b.reclaimExpiredLeases(maximumAttempts: 3, now: Date()) == (1, 0))
            let requeued = try #require(try await b.jobs(state: .queued).first)
            #expect(requeued.reason?.contains("a stopped answering") == true && requeued.leaseOwner == nil)
            let retaken = try #require(try await b.claimNextJob(now: Date()))
            #expect(retaken.id == claimed.id && retaken.attempts == 2 && retaken.leaseOwner == "b")
            // A, back, cannot settle the job B now runs.
            await #expect(throws: PostgreSQLStoreError.self) {
                try await a.failJob(jobID: claimed.id!, reason: "late", now: Date())
            }
            #expect(try server.psql(#"SELECT "leaseOwner" FROM job"#) == "b")
        }
    }

    @Test func aDestinationIsSentForByOneNodeAtATimeAndHandedOverWhenItsSessionEnds() async throws {
        try await Self.withTwoNodes { a, b, server in
            #expect(await a.holdsSender(for: "pacs"))
            #expect(await a.holdsSender(for: "pacs"), "still held")
            #expect(await !b.holdsSender(for: "pacs"))
            // A's session ends (its node died): B's next round takes the destination over, and A's
            // new session (had it only lost its connection) does not take it back.
            let terminated = try server.psql(
                "SELECT count(pg_terminate_backend(pid)) FROM pg_locks WHERE locktype = 'advisory'")
            #expect(terminated == "1")
            // pg_terminate_backend signals the session; it is gone (and its locks) a moment later.
            #expect(
                await waitUntil {
                    (try? server.psql("SELECT count(*) FROM pg_locks WHERE locktype = 'advisory'")) == "0"
                })
            #expect(await b.holdsSender(for: "pacs"))
            #expect(await !a.holdsSender(for: "pacs"))
            #expect(await b.holdsSender(for: "pacs"), "B keeps it")
            #expect(await a.holdsSender(for: "archive"), "another destination is free")
        }
    }

    @Test func nodesMigrateOnceAndANewerSchemaIsRefused() async throws {
        try await Self.withTwoNodes { a, _, server in
            #expect(
                try server.psql(#"SELECT count(*) FROM schema_migrations"#) == "\(PostgreSQLSchema.migrations.count)")
            try server.psql(#"INSERT INTO schema_migrations ("version", "node") VALUES (99, 'newer')"#)
            await #expect(throws: PostgreSQLStoreError.self) { try await a.migrate() }
        }
    }

    @Test func timestampsRoundTripToTheMicrosecond() {
        for seconds in [0.0, 1_800_000_000.123456, 1_800_000_000.999_999_7, -1.5] {
            let date = Date(timeIntervalSince1970: seconds)
            let back = PostgreSQLTimestamp.parse(PostgreSQLTimestamp.format(date))
            #expect(back.map { abs($0.timeIntervalSince(date)) < 1e-6 } == true, "\(seconds)")
        }
        #expect(PostgreSQLTimestamp.parse("2026-12-07T19:15:17+01:00")?.timeIntervalSince1970 == 1_796_667_317)
    }
}
