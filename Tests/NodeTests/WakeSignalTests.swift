import Foundation
import Testing

@testable import Node

/// WakeSignal (Services/WakeSignal.swift): idle job workers wait on it with a timeout as the
/// fallback. The waits here are an hour long unless a test is about the timeout, so a waiter that
/// returns did so because of the signal or its cancellation.
@Suite struct WakeSignalTests {
    /// Waits until `count` tasks are registered as waiting; false if that has not happened
    /// within 10 s (a waiter that never waits, or returned at once).
    private func waitUntil(_ signal: WakeSignal, hasWaiting count: Int) async -> Bool {
        let deadline = ContinuousClock.now + .seconds(10)
        while signal.waitingCount != count {
            guard ContinuousClock.now < deadline else { return false }
            try? await Task.sleep(for: .milliseconds(1))
        }
        return true
    }

    @Test func aSignalWakesEveryWaiter() async {
        let signal = WakeSignal()
        await withTaskGroup(of: Void.self) { group in
            for _ in 0..<3 { group.addTask { await signal.wait(upTo: .seconds(3600)) } }
            #expect(await waitUntil(signal, hasWaiting: 3))
            signal.signal()
            await group.waitForAll()
        }
        #expect(signal.waitingCount == 0)
    }

    @Test func aWaiterWithoutASignalReturnsAtItsTimeout() async {
        let signal = WakeSignal()
        await signal.wait(upTo: .milliseconds(20))
        #expect(signal.waitingCount == 0)
    }

    /// A signal wakes the tasks waiting at that moment; it is not kept for a later waiter (that
    /// one finds the queued work by looking, and waits only when there is none).
    @Test func aSignalWithNobodyWaitingIsNotKept() async {
        let signal = WakeSignal()
        signal.signal()
        let waiter = Task { await signal.wait(upTo: .seconds(3600)) }
        // It waits: the earlier signal did not make it return at once.
        #expect(await waitUntil(signal, hasWaiting: 1))
        signal.signal()
        await waiter.value
    }

    /// A loop that was busy when the signal came (the sender, while a job's results were
    /// queued) passes the count it saw before its round and does not wait at all.
    @Test func aSignalSinceTheCallersCountEndsTheWaitAtOnce() async {
        let signal = WakeSignal()
        let before = signal.count
        signal.signal()
        #expect(signal.count == before + 1)
        let started = ContinuousClock.now
        await signal.wait(upTo: .seconds(60), unlessSignalledSince: before)
        #expect(ContinuousClock.now - started < .seconds(30), "returned at once, not at its timeout")
        #expect(signal.waitingCount == 0)
        // With no signal since the count it passes, it waits for the next.
        let waiter = Task { await signal.wait(upTo: .seconds(3600), unlessSignalledSince: signal.count) }
        #expect(await waitUntil(signal, hasWaiting: 1))
        signal.signal()
        await waiter.value
    }

    /// How long `PeriodicService` waits for a round that names when the next is due.
    @Test func aRoundDueSoonerThanTheIntervalShortensTheWait() {
        let now = Date(timeIntervalSince1970: 1_800_000_000)
        let interval = Duration.milliseconds(500)
        let soon = PeriodicService.wait(until: now.addingTimeInterval(0.2), now: now, atMost: interval)
        #expect(soon >= .milliseconds(201) && soon <= .milliseconds(202), "just past the deadline: \(soon)")
        #expect(PeriodicService.wait(until: now.addingTimeInterval(3), now: now, atMost: interval) == interval)
        #expect(PeriodicService.wait(until: now.addingTimeInterval(-1), now: now, atMost: interval) == .zero)
    }

    @Test func aCancelledWaiterReturnsAndIsForgotten() async {
        let signal = WakeSignal()
        let waiter = Task { await signal.wait(upTo: .seconds(3600)) }
        #expect(await waitUntil(signal, hasWaiting: 1))
        waiter.cancel()
        await waiter.value
        #expect(signal.waitingCount == 0)
        // A task cancelled before it waits does not wait at all.
        let early = Task {
            withUnsafeCurrentTask { $0?.cancel() }
            await signal.wait(upTo: .seconds(3600))
        }
        await early.value
        #expect(signal.waitingCount == 0)
    }
}
