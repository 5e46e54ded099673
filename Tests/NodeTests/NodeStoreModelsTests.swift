import DICOM
import Foundation
import GRDB
import TestSupport
import Testing

@testable import Node

/// A route with several models: one job per model, and the series follows all of them.
@Suite struct NodeStoreModelsTests {
    static let configuration = try! NodeConfiguration.parse(
        """
        destinations: [{ name: pacs, ae_title: PACS, host: 127.0.0.1, port: 4242 }]
        models: { organs: /models/organs, landmarks: /models/landmarks, classify: /models/classify }
        routes:
          - name: ct
            models: [organs, landmarks, classify]
            destinations: [pacs]
            match: [{ tag: Modality, equals: CT }]
            quiet_time: 10s
        """)

    let directory = TemporaryDirectory()
    let t0 = Date(timeIntervalSince1970: 1_800_000_000)

    func makeStore() throws -> NodeStore {
        NodeStore(
            database: try NodeDatabase(path: directory.file("node.sqlite")),
            router: Router(routes: Self.configuration.routes))
    }

    func arrival(_ n: Int, at seconds: Double) -> InstanceArrival {
        let record = InstanceRecord(
            sopInstanceUID: "1.2.3.1.\(n)", sopClassUID: "1.2.840.10008.5.1.4.1.1.2",
            seriesInstanceUID: "1.2.3.1", studyInstanceUID: "1.2.3", path: "/store/\(n).dcm",
            transferSyntaxUID: "1.2.840.10008.1.2.1", callingAETitle: "CT01",
            calledAETitle: "MAMBANODE", sourceAddress: "127.0.0.1", associationID: "a1",
            receivedAt: t0.addingTimeInterval(seconds))
        return InstanceArrival(
            record: record, expectedCount: nil,
            routing: RoutingInput(attributes: [.modality: ["CT"]], callingAETitle: "CT01"))
    }

    /// Three queued jobs for one stable series, in the route's model order.
    func closedSeries(_ store: NodeStore) throws -> [JobRecord] {
        for n in 0..<3 { try store.record(arrival(n, at: Double(n)), correlationID: "c") }
        return try store.closeStableSeries(now: t0.addingTimeInterval(20))
    }

    @Test func configurationKeepsTheModelsInOrder() {
        #expect(Self.configuration.routes[0].models == ["organs", "landmarks", "classify"])
    }

    @Test func eachModelGetsAJobOfItsOwn() throws {
        let store = try makeStore()
        let jobs = try closedSeries(store)
        #expect(jobs.map(\.model) == ["organs", "landmarks", "classify"])
        #expect(Set(jobs.map(\.route)) == ["ct"] && Set(jobs.map(\.version)) == [1])
        #expect(try store.jobs(state: .queued).count == 3)
    }

    @Test func theSeriesIsDoneOnlyWhenEveryModelIs() throws {
        let store = try makeStore()
        _ = try closedSeries(store)
        for n in 0..<3 {
            let job = try #require(try store.claimNextJob(now: t0.addingTimeInterval(30)))
            #expect(try store.series("1.2.3.1")?.state == .processing)
            try store.completeJob(
                jobID: job.id!, objects: [("/r/\(n).dcm", "9.9.\(n)")], destinations: ["pacs"],
                timings: [:], note: n == 1 ? "half the slices" : nil, now: t0.addingTimeInterval(40))
            let series = try #require(try store.series("1.2.3.1"))
            #expect(series.state == (n < 2 ? .processing : .done), "after job \(n)")
        }
        #expect(try store.series("1.2.3.1")?.reason == "landmarks: half the slices")
    }

    @Test func oneFailedModelFailsTheSeriesWithItsName() throws {
        let store = try makeStore()
        _ = try closedSeries(store)
        let first = try #require(try store.claimNextJob(now: t0.addingTimeInterval(30)))
        try store.failJob(jobID: first.id!, reason: "no CT input", now: t0.addingTimeInterval(31))
        #expect(try store.series("1.2.3.1")?.state == .processing, "the other models still run")
        for _ in 0..<2 {
            let job = try #require(try store.claimNextJob(now: t0.addingTimeInterval(32)))
            try store.completeJob(
                jobID: job.id!, objects: [], destinations: ["pacs"], timings: [:], now: t0.addingTimeInterval(33))
        }
        let series = try #require(try store.series("1.2.3.1"))
        #expect(series.state == .failed && series.reason == "organs: no CT input")
    }

    /// A database written before several models per route keeps its jobs and their outbox
    /// entries, and then takes a second model's job for the same series.
    @Test func aVersion1DatabaseIsMigratedWithItsOutbox() throws {
        let path = directory.file("old.sqlite")
        do {
            let queue = try DatabaseQueue(path: path)
            try NodeDatabase.migrator.migrate(queue, upTo: "v1")
            try queue.write { db in
                try db.execute(
                    sql: """
                        INSERT INTO job (id, route, model, subjectUID, level, version, state, step, attempts, inputs, results,
                                         timings, correlationID, createdAt)
                        VALUES (7, 'ct', 'organs', '1.2.3.1', 'series', 1, 'done', 'finished', 1, '{}', '[]', '{}', 'c', '2026-01-01')
                        """)
                try db.execute(
                    sql: """
                        INSERT INTO outbox (jobID, path, sopInstanceUID, destination, state, attempts, nextAttemptAt, createdAt,
                                            correlationID)
                        VALUES (7, '/r/seg.dcm', '9.9.1', 'pacs', 'pending', 0, '2026-01-01', '2026-01-01', 'c')
                        """)
            }
        }
        let database = try NodeDatabase(path: path)
        try database.writer.write { db in
            #expect(try Int.fetchOne(db, sql: "SELECT jobID FROM outbox") == 7)
            #expect(try String.fetchOne(db, sql: "SELECT model FROM job WHERE id = 7") == "organs")
            // The old row reads back as a typed record (JSON columns decoded).
            #expect(try JobRecord.fetchOne(db, key: 7)?.level == .series)
            try db.execute(
                sql: """
                    INSERT INTO job (route, model, subjectUID, level, version, state, step, attempts, inputs,
                                     timings, correlationID, createdAt)
                    VALUES ('ct', 'landmarks', '1.2.3.1', 'series', 1, 'queued', 'assemble', 0, '{}', '{}', 'c', '2026-01-01')
                    """)
            #expect(try Int.fetchOne(db, sql: "SELECT MAX(id) FROM job") == 8, "ids continue after the old ones")
            #expect(throws: DatabaseError.self) {
                try db.execute(
                    sql: """
                        INSERT INTO job (route, model, subjectUID, level, version, state, step, attempts, inputs,
                                         timings, correlationID, createdAt)
                        VALUES ('ct', 'landmarks', '1.2.3.1', 'series', 1, 'queued', 'assemble', 0, '{}', '{}', 'c', '2026-01-01')
                        """)
            }
        }
    }
}
