import Foundation
import TestSupport
import Testing

@testable import Node

@Suite struct OutboxTests {
    let directory = TemporaryDirectory()
    let t0 = Date(timeIntervalSince1970: 1_800_000_000)
    let policy = RetryPolicy(.init(firstRetry: 30, maximumRetry: 600, giveUpAfter: 86400, jitter: 0.2))

    func makeStore() throws -> NodeStore {
        NodeStore(database: try NodeDatabase(path: directory.file("node.sqlite")), router: Router(routes: []))
    }

    @Test func backoffDoublesFromThirtySecondsUpToTenMinutes() {
        let delays = (1...8).map { policy.delay(afterFailures: $0, unit: 0.5) }
        #expect(delays == [30, 60, 120, 240, 480, 600, 600, 600])
        #expect(policy.delay(afterFailures: 1, unit: 0) == 24)
        #expect(abs(policy.delay(afterFailures: 1, unit: 0.999_999) - 36) < 1e-3)
    }

    @Test func oneEntryPerObjectAndDestinationEvenWhenEnqueuedTwice() throws {
        let store = try makeStore()
        let objects = [(path: "/r/seg.dcm", sopInstanceUID: "1.1"), (path: "/r/sr.dcm", sopInstanceUID: "1.2")]
        try store.enqueue(objects: objects, destinations: ["pacs", "archive"], jobID: nil, correlationID: "c", now: t0)
        try store.enqueue(objects: objects, destinations: ["pacs", "archive"], jobID: nil, correlationID: "c", now: t0)
        #expect(try store.outbox().count == 4)
        #expect(try store.dueOutboxEntries(now: t0).count == 4)
    }

    @Test func failuresRetryWithBackoffAndParkAfterGiveUp() throws {
        let store = try makeStore()
        try store.enqueue(
            objects: [(path: "/r/seg.dcm", sopInstanceUID: "1.1")], destinations: ["pacs"], jobID: nil,
            correlationID: "c", now: t0)
        let id = try #require(try store.outbox().first?.id)
        var entry = try #require(
            try store.recordAttempt(
                entryID: id, outcome: .failed(status: nil, error: "connection refused"),
                policy: policy, now: t0, unit: 0.5))
        #expect(entry.state == .pending && entry.nextAttemptAt == t0.addingTimeInterval(30))
        #expect(try store.dueOutboxEntries(now: t0.addingTimeInterval(29)).isEmpty)
        entry = try #require(
            try store.recordAttempt(
                entryID: id, outcome: .failed(status: 0xA700, error: "out of resources"),
                policy: policy, now: t0.addingTimeInterval(30), unit: 0.5))
        #expect(entry.nextAttemptAt == t0.addingTimeInterval(90) && entry.lastStatus == "A700")
        entry = try #require(
            try store.recordAttempt(
                entryID: id, outcome: .failed(status: 0xA700, error: "out of resources"),
                policy: policy, now: t0.addingTimeInterval(86400), unit: 0.5))
        #expect(entry.state == .parked)
        #expect(try store.dueOutboxEntries(now: t0.addingTimeInterval(200_000)).isEmpty)
        #expect(try store.retryParked(now: t0.addingTimeInterval(90_000)) == 1)
        entry = try #require(
            try store.recordAttempt(
                entryID: id, outcome: .sent(status: 0), policy: policy,
                now: t0.addingTimeInterval(90_000)))
        #expect(entry.state == .sent && entry.attempts == 4 && entry.lastStatus == "0000")
    }
}
