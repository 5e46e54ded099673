import DICOM
import Foundation
import TestSupport
import Testing

@testable import Node

/// Study-level routes (docs/node-behaviour.md): a multi-channel model waits for every required
/// series.
@Suite struct StudyRouteTests {
    let directory = TemporaryDirectory()
    let t0 = Date(timeIntervalSince1970: 1_800_000_000)
    static let configuration = try! NodeConfiguration.parse(
        """
        destinations: [{ name: pacs, ae_title: PACS, host: 127.0.0.1, port: 4242 }]
        models: { brats: /models/brats }
        routes:
          - name: brain
            level: study
            match: [{ tag: Modality, equals: MR }]
            channels:
              - { name: t1, match: [{ tag: SeriesDescription, regex: "(?i)^t1$" }] }
              - { name: t2, match: [{ tag: SeriesDescription, regex: "(?i)^t2$" }] }
              - { name: flair, match: [{ tag: SeriesDescription, regex: "(?i)flair" }] }
            model: brats
            destinations: [pacs]
            quiet_time: 10s
            give_up: 1h
        """)

    func makeStore() throws -> NodeStore {
        NodeStore(
            database: try NodeDatabase(path: directory.file("n.sqlite")),
            router: Router(routes: Self.configuration.routes))
    }

    func receive(_ store: NodeStore, series: String, description: String, count: Int = 3, at seconds: Double) throws {
        for n in 0..<count {
            let record = InstanceRecord(
                sopInstanceUID: "\(series).\(n)", sopClassUID: "1.2.840.10008.5.1.4.1.1.4",
                seriesInstanceUID: series, studyInstanceUID: "1.9", path: "/s/\(series).\(n).dcm",
                transferSyntaxUID: "1.2.840.10008.1.2.1", callingAETitle: "MR01",
                calledAETitle: "MAMBANODE", sourceAddress: "127.0.0.1", associationID: "1",
                receivedAt: t0.addingTimeInterval(seconds + Double(n)))
            try store.record(
                InstanceArrival(
                    record: record, expectedCount: nil,
                    routing: RoutingInput(
                        attributes: [.modality: ["MR"], .seriesDescription: [description]])), correlationID: "study-c")
        }
    }

    func tick(_ store: NodeStore, _ seconds: Double) throws -> [JobRecord] {
        let now = t0.addingTimeInterval(seconds)
        return try store.closeStableSeries(now: now) + store.closeStableStudies(now: now)
    }

    @Test func waitsForEveryChannelThenQueuesOneJob() throws {
        let store = try makeStore()
        try receive(store, series: "1.9.1", description: "T1", at: 0)
        try receive(store, series: "1.9.2", description: "T2", at: 5)
        #expect(try tick(store, 100).isEmpty, "flair is missing")
        #expect(try store.series("1.9.1")?.state == .stable)
        try receive(store, series: "1.9.3", description: "T2 FLAIR", at: 200)
        #expect(try tick(store, 205).isEmpty, "flair still arriving")
        let jobs = try tick(store, 212)
        #expect(jobs.count == 1)
        let job = try #require(jobs.first)
        #expect(job.level == .study && job.subjectUID == "1.9")
        #expect(job.inputs == ["t1": ["1.9.1"], "t2": ["1.9.2"], "flair": ["1.9.3"]])
        #expect(try store.study("1.9")?.state == .queued)
        #expect(try tick(store, 500).isEmpty, "queued once")

        // The job settles the study and all its input series.
        let claimed = try #require(try store.claimNextJob(now: t0.addingTimeInterval(501)))
        #expect(try store.series("1.9.2")?.state == .processing)
        try store.completeJob(
            jobID: claimed.id!, objects: [], destinations: ["pacs"], timings: [:], now: t0.addingTimeInterval(502))
        #expect(try store.study("1.9")?.state == .done)
        #expect(try ["1.9.1", "1.9.2", "1.9.3"].map { try store.series($0)?.state } == [.done, .done, .done])
    }

    @Test func missingChannelFailsAtGiveUpWithTheChannelNamed() throws {
        let store = try makeStore()
        try receive(store, series: "1.9.1", description: "T1", at: 0)
        try receive(store, series: "1.9.3", description: "FLAIR", at: 0)
        #expect(try tick(store, 3599).isEmpty)
        #expect(try tick(store, 3600).isEmpty)
        let study = try #require(try store.study("1.9"))
        #expect(study.state == .failed && study.reason == "gave up waiting: missing t2")
        #expect(try store.series("1.9.1")?.state == .failed)
    }

    @Test func seriesMatchingNoChannelIsKeptOutOfTheJob() throws {
        let store = try makeStore()
        try receive(store, series: "1.9.1", description: "T1", at: 0)
        try receive(store, series: "1.9.2", description: "T2", at: 0)
        try receive(store, series: "1.9.3", description: "FLAIR", at: 0)
        try receive(store, series: "1.9.4", description: "DWI", at: 0)
        #expect(try store.series("1.9.4")?.channel == nil)
        let job = try #require(try tick(store, 20).first)
        #expect(!job.inputs.values.joined().contains("1.9.4"))
    }
}
