import Foundation
import Logging
import TestSupport
import Testing

@testable import Node

/// A PACS stand-in that refuses what it is told to refuse and remembers what it stored.
actor FakePACS: ResultTransport {
    var refusing: Set<String> = []
    /// Files whose SOP class it accepts no presentation context for.
    var notAccepting: Set<String> = []
    var down = false
    private(set) var stored: [String] = []

    func setDown(_ value: Bool) { down = value }
    func refuse(_ paths: Set<String>) { refusing = paths }
    func notAccept(_ paths: Set<String>) { notAccepting = paths }

    nonisolated func send(_ paths: [String], to destination: NodeConfiguration.Destination) async -> [TransportOutcome]
    {
        await receive(paths)
    }

    private func receive(_ paths: [String]) -> [TransportOutcome] {
        paths.map { path in
            if down { return TransportOutcome(path: path, status: nil, isStored: false, error: "connection refused") }
            if notAccepting.contains(path) {
                return TransportOutcome(
                    path: path, status: nil, isStored: false, error: "no presentation context", notAccepted: true)
            }
            if refusing.contains(path) {
                return TransportOutcome(path: path, status: 0xA700, isStored: false, error: "out of resources")
            }
            stored.append(path)
            return TransportOutcome(path: path, status: 0, isStored: true, error: nil)
        }
    }
}

@Suite struct SenderTests {
    let directory = TemporaryDirectory()
    let t0 = Date(timeIntervalSince1970: 1_800_000_000)
    let configuration = try! NodeConfiguration.parse(
        """
        destinations: [{ name: pacs, ae_title: PACS, host: 127.0.0.1, port: 4242 }]
        sending: { first_retry: 30s, max_retry: 10m, give_up: 1h, jitter: 0 }
        """)

    static let segAndSR = [(path: "/r/seg.dcm", sopInstanceUID: "1.1"), (path: "/r/sr.dcm", sopInstanceUID: "1.2")]

    /// A store with `objects` queued for `destination` at t0, and a fake PACS.
    func queued(
        _ objects: [(path: String, sopInstanceUID: String)], for destination: String = "pacs"
    ) throws
        -> (NodeStore, FakePACS)
    {
        let store = NodeStore(database: try NodeDatabase(path: directory.file("n.sqlite")), router: Router(routes: []))
        try store.enqueue(objects: objects, destinations: [destination], jobID: nil, correlationID: "c", now: t0)
        return (store, FakePACS())
    }

    func makeSender(_ store: NodeStore, _ transport: some ResultTransport) -> Sender {
        Sender(store: store, configuration: configuration, transport: transport, logger: Logger(label: "test"))
    }

    @Test func onlyFailuresAreResentAndOutagesRecover() async throws {
        let (store, pacs) = try queued(Self.segAndSR)
        await pacs.refuse(["/r/sr.dcm"])
        let sender = makeSender(store, pacs)
        #expect(try await sender.sendDue(now: t0) == 2)
        #expect(await pacs.stored == ["/r/seg.dcm"])
        await pacs.refuse([])
        await pacs.setDown(true)
        #expect(try await sender.sendDue(now: t0.addingTimeInterval(29)) == 0, "not due before the backoff")
        #expect(try await sender.sendDue(now: t0.addingTimeInterval(30)) == 1, "only the failure is re-sent")
        await pacs.setDown(false)
        #expect(try await sender.sendDue(now: t0.addingTimeInterval(89)) == 0)
        #expect(try await sender.sendDue(now: t0.addingTimeInterval(90)) == 1)
        #expect(await pacs.stored == ["/r/seg.dcm", "/r/sr.dcm"])
        let entries = try store.outbox()
        #expect(entries.map(\.state) == [.sent, .sent])
        #expect(entries.map(\.attempts) == [1, 3])
    }

    @Test func persistentRefusalIsParked() async throws {
        let (store, pacs) = try queued([Self.segAndSR[0]])
        await pacs.refuse(["/r/seg.dcm"])
        let sender = makeSender(store, pacs)
        var now = t0
        while try store.outbox(state: .pending).count == 1 {
            try await sender.sendDue(now: now)
            now = now.addingTimeInterval(600)
        }
        #expect(try store.outbox(state: .parked).count == 1)
        #expect(try store.outbox().first?.lastStatus == "A700")
    }

    /// A result queued for a destination that was since removed from the configuration is parked
    /// at once with the reason, without an attempt and without reaching any peer: never dropped,
    /// never retried in vain.
    @Test func entriesForARemovedDestinationAreParkedWithoutAnAttempt() async throws {
        let (store, pacs) = try queued([Self.segAndSR[0]], for: "old-pacs")
        try await makeSender(store, pacs).sendDue(now: t0)
        let entry = try #require(try store.outbox().first)
        #expect(entry.state == .parked && entry.attempts == 0 && entry.lastAttemptAt == nil)
        #expect(entry.lastError == "destination 'old-pacs' is not configured")
        #expect(await pacs.stored.isEmpty)
    }

    /// A PACS that does not take one SOP class (here: the SEG) gets the other objects; the refused
    /// one is parked at once with the reason, not retried until the give-up time.
    @Test func aSOPClassTheDestinationRefusesIsParkedAndTheRestDelivered() async throws {
        let (store, pacs) = try queued(Self.segAndSR)
        await pacs.notAccept(["/r/seg.dcm"])
        #expect(try await makeSender(store, pacs).sendDue(now: t0) == 2)
        #expect(await pacs.stored == ["/r/sr.dcm"])
        let entries = try store.outbox()
        #expect(entries.map(\.state) == [.parked, .sent])
        #expect(entries[0].lastError == "SOP class not accepted by pacs: no presentation context")
        #expect(try store.dueOutboxEntries(now: t0.addingTimeInterval(86_400)).isEmpty, "never retried")
    }

    /// A crash mid-send (the PACS stored the objects, the node died before recording it): the
    /// entries are still pending, and the re-send carries the same files, hence the same SOP
    /// Instance UIDs, so the PACS keeps one copy of each.
    @Test func crashAfterDeliveryResendsTheSameObjects() async throws {
        let (store, pacs) = try queued(Self.segAndSR)
        let dying = makeSender(store, DiesAfterDelivery(pacs: pacs))
        let attempt = Task { try await dying.sendDue(now: t0) }
        for _ in 0..<1000 where await pacs.stored.count < 2 { try await Task.sleep(for: .milliseconds(10)) }
        #expect(await pacs.stored.count == 2)
        attempt.cancel() // the process is gone: nothing after the delivery ran
        #expect(try store.outbox().allSatisfy { $0.state == .pending && $0.attempts == 0 })

        let restarted = makeSender(store, pacs)
        #expect(try await restarted.sendDue(now: t0.addingTimeInterval(5)) == 2)
        #expect(await pacs.stored == ["/r/seg.dcm", "/r/sr.dcm", "/r/seg.dcm", "/r/sr.dcm"])
        #expect(try store.outbox().map(\.sopInstanceUID) == ["1.1", "1.2"])
        #expect(try store.outbox().allSatisfy { $0.state == .sent })
    }
}

/// Delivers, then never returns: the sender's process died right after the PACS stored.
struct DiesAfterDelivery: ResultTransport {
    let pacs: FakePACS
    func send(_ paths: [String], to destination: NodeConfiguration.Destination) async -> [TransportOutcome] {
        _ = await pacs.send(paths, to: destination)
        while !Task.isCancelled { try? await Task.sleep(for: .milliseconds(10)) }
        return []
    }
}
