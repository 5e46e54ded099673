import DICOM
import Foundation
import TestSupport
import Testing

@testable import Node

@Suite struct NodeStoreTests {
    static let configuration = try! NodeConfiguration.parse(
        """
        destinations: [{ name: pacs, ae_title: PACS, host: 127.0.0.1, port: 4242 }]
        models: { organs: /models/organs }
        routes:
          - name: ct
            model: organs
            destinations: [pacs]
            match: [{ tag: Modality, equals: CT }]
            quiet_time: 10s
            hard_cap: 100s
        """)

    let directory = TemporaryDirectory()
    let t0 = Date(timeIntervalSince1970: 1_800_000_000)

    func makeStore() throws -> NodeStore {
        NodeStore(
            database: try NodeDatabase(path: directory.file("node.sqlite")),
            router: Router(routes: Self.configuration.routes))
    }

    func instance(
        _ n: Int, series: String = "1.2.3.1", modality: String = "CT", at seconds: Double, expected: Int? = nil
    )
        -> InstanceArrival
    {
        let record = InstanceRecord(
            sopInstanceUID: "1.2.3.1.\(n)", sopClassUID: "1.2.840.10008.5.1.4.1.1.2",
            seriesInstanceUID: series, studyInstanceUID: "1.2.3", path: "/store/\(n).dcm",
            transferSyntaxUID: "1.2.840.10008.1.2.1", callingAETitle: "CT01",
            calledAETitle: "MAMBANODE", sourceAddress: "127.0.0.1", associationID: "a1",
            receivedAt: t0.addingTimeInterval(seconds))
        return InstanceArrival(
            record: record, expectedCount: expected,
            routing: RoutingInput(attributes: [.modality: [modality]], callingAETitle: "CT01"))
    }

    @Test func duplicateInstancesAreStoredOnce() throws {
        let store = try makeStore()
        #expect(try store.record(instance(1, at: 0), correlationID: "c1") != .duplicate)
        #expect(try store.record(instance(1, at: 1), correlationID: "c1") == .duplicate)
        #expect(try store.instances(ofSeries: "1.2.3.1").count == 1)
        #expect(try store.series("1.2.3.1")?.instanceCount == 1)
    }

    @Test func seriesIsStableAfterQuietTimeAndGetsOneJob() throws {
        let store = try makeStore()
        for n in 0..<5 { try store.record(instance(n, at: Double(n)), correlationID: "c") }
        #expect(
            try store.closeStableSeries(now: t0.addingTimeInterval(13.9)).isEmpty,
            "quiet time runs from the last instance")
        let jobs = try store.closeStableSeries(now: t0.addingTimeInterval(14))
        #expect(jobs.count == 1)
        #expect(jobs.first?.route == "ct" && jobs.first?.step == .assemble && jobs.first?.version == 1)
        #expect(try store.series("1.2.3.1")?.state == .queued)
        #expect(try store.closeStableSeries(now: t0.addingTimeInterval(100)).isEmpty, "closed once")
    }

    /// When the tracker looks next (`nextDeadline`): the series' quiet deadline, then, once that
    /// has passed, its hard cap; nothing once it is closed.
    @Test func theTrackerLooksNextAtTheEarliestDeadlineAhead() throws {
        let store = try makeStore()
        #expect(try store.nextDeadline(after: t0) == nil)
        for n in 0..<5 { try store.record(instance(n, at: Double(n)), correlationID: "c") }
        let quiet = try #require(try store.nextDeadline(after: t0.addingTimeInterval(4)))
        #expect(abs(quiet.timeIntervalSince(t0) - 14) < 0.001)
        let cap = try #require(try store.nextDeadline(after: t0.addingTimeInterval(14)))
        #expect(abs(cap.timeIntervalSince(t0) - 100) < 0.001, "a deadline passed is not looked at again")
        try store.closeStableSeries(now: t0.addingTimeInterval(14))
        #expect(try store.nextDeadline(after: t0.addingTimeInterval(14)) == nil)
    }

    @Test func expectedCountClosesEarly() throws {
        let store = try makeStore()
        for n in 0..<3 { try store.record(instance(n, at: Double(n), expected: 3), correlationID: "c") }
        #expect(try store.closeStableSeries(now: t0.addingTimeInterval(2)).count == 1)
    }

    @Test func hardCapClosesASeriesThatNeverGoesQuiet() throws {
        let store = try makeStore()
        for n in 0..<12 { try store.record(instance(n, at: Double(n) * 9), correlationID: "c") }
        #expect(try store.closeStableSeries(now: t0.addingTimeInterval(99)).isEmpty)
        #expect(try store.closeStableSeries(now: t0.addingTimeInterval(100)).count == 1)
    }

    @Test func unroutedSeriesIsReportedNotProcessed() throws {
        let store = try makeStore()
        try store.record(instance(1, series: "9.9", modality: "MR", at: 0), correlationID: "c")
        #expect(try store.series("9.9")?.reason?.hasPrefix("no route matched") == true)
        #expect(try store.closeStableSeries(now: t0.addingTimeInterval(60)).isEmpty)
        #expect(try store.series("9.9")?.state == .unrouted)
    }

    func instance(_ n: Int, at seconds: Double, association: String) -> InstanceArrival {
        var arrival = instance(n, at: seconds)
        arrival.record.associationID = association
        return arrival
    }

    /// docs/node-behaviour.md, Interrupted series: an association aborted after 30 of 64
    /// instances, a pause of twice the quiet time, then the whole series re-sent: one job, on 64.
    @Test func anAbortedSeriesWaitsForItsResendAndIsProcessedOnce() throws {
        let store = try makeStore()
        for n in 0..<30 { try store.record(instance(n, at: 0, association: "r/1"), correlationID: "c") }
        try store.associationEnded("r/1", normally: false, how: "aborted by peer", callingAETitle: "CT01")
        #expect(try store.series("1.2.3.1")?.interruption?.contains("CT01 that sent 30 new instances") == true)
        #expect(
            try store.closeStableSeries(now: t0.addingTimeInterval(20)).isEmpty, "quiet time alone does not close it")
        for n in 0..<64 { try store.record(instance(n, at: 20, association: "r/2"), correlationID: "c") }
        try store.associationEnded("r/2", normally: true, how: "released", callingAETitle: "CT01")
        #expect(try store.closeStableSeries(now: t0.addingTimeInterval(29)).isEmpty)
        let jobs = try store.closeStableSeries(now: t0.addingTimeInterval(30))
        #expect(jobs.count == 1 && jobs.first?.version == 1 && jobs.first?.caveats == [])
        let series = try #require(try store.series("1.2.3.1"))
        #expect(series.instanceCount == 64 && series.interruption == nil && series.state == .queued)
    }

    /// The re-send may hold nothing new (the abort came after the last instance): its normal end
    /// still clears the interruption.
    @Test func aResendOfOnlyKnownInstancesClearsTheInterruption() throws {
        let store = try makeStore()
        for n in 0..<5 { try store.record(instance(n, at: 0, association: "r/1"), correlationID: "c") }
        try store.associationEnded("r/1", normally: false, how: "connection lost", callingAETitle: "CT01")
        for n in 0..<5 {
            #expect(try store.record(instance(n, at: 1, association: "r/2"), correlationID: "c") == .duplicate)
        }
        try store.associationEnded("r/2", normally: true, how: "released", callingAETitle: "CT01")
        #expect(try store.series("1.2.3.1")?.interruption == nil)
        #expect(try store.closeStableSeries(now: t0.addingTimeInterval(10)).count == 1)
    }

    /// Never completed: processed after the grace, the job carrying the caveat for its SR.
    @Test func anInterruptedSeriesIsProcessedAfterTheGraceWithACaveat() throws {
        let store = try makeStore()
        for n in 0..<3 { try store.record(instance(n, at: 0, association: "r/1"), correlationID: "c") }
        try store.associationEnded("r/1", normally: false, how: "aborted by peer", callingAETitle: "CT01")
        #expect(try store.closeStableSeries(now: t0.addingTimeInterval(99)).isEmpty)
        let jobs = try store.closeStableSeries(now: t0.addingTimeInterval(100)) // the hard cap (100 s) before the grace
        #expect(jobs.count == 1)
        #expect(
            jobs.first?.caveats.first?.hasPrefix(
                "Series 1.2.3.1 may be incomplete: 3 instances received; the association"
                    + " from CT01 that sent 3 new instances of it ended abnormally") == true)
        #expect(try store.series("1.2.3.1")?.interruption != nil, "the API shows it")
    }

    /// Killed while receiving and restarted: the quiet time that passed during the outage does
    /// not close the series; it is interrupted and waits for the re-send.
    @Test func aSeriesArrivingWhenTheNodeStoppedWaitsAfterTheRestart() throws {
        let store = try makeStore()
        for n in 0..<3 { try store.record(instance(n, at: 0, association: "old/1"), correlationID: "c") }
        // Down for 5 minutes, long past the 10 s quiet time.
        try store.recoverAfterRestart(maximumAttempts: 3, now: t0.addingTimeInterval(300))
        let series = try #require(try store.series("1.2.3.1"))
        #expect(series.interruption == "the node stopped while an association was sending it")
        #expect(try store.closeStableSeries(now: t0.addingTimeInterval(301)).isEmpty)
    }

    @Test func lateInstanceReopensAsNewVersion() throws {
        let store = try makeStore()
        try store.record(instance(1, at: 0), correlationID: "c")
        try store.closeStableSeries(now: t0.addingTimeInterval(10))
        try store.record(instance(2, at: 50), correlationID: "c")
        let reopened = try #require(try store.series("1.2.3.1"))
        #expect(reopened.state == .receiving && reopened.version == 2 && reopened.instanceCount == 2)
        let jobs = try store.closeStableSeries(now: t0.addingTimeInterval(60))
        #expect(jobs.map(\.version) == [2])
        #expect(try store.jobs().map(\.version) == [1, 2])
    }

    @Test func deadlinesSurviveARestart() throws {
        do {
            let store = try makeStore()
            try store.record(instance(1, at: 0), correlationID: "c")
        }
        let reopened = try makeStore()
        #expect(try reopened.receivingSeries().map(\.quietDeadline) == [t0.addingTimeInterval(10)])
        #expect(try reopened.closeStableSeries(now: t0.addingTimeInterval(10)).count == 1)
    }
}
