import Foundation
import Synchronization

/// Wakes tasks that wait for something to do (idle job workers when jobs were queued), with a
/// timeout as the fallback: a waiter that misses a signal still looks again after its timeout.
public final class WakeSignal: Sendable {
    private let waiters = Mutex<[UUID: CheckedContinuation<Void, Never>]>([:])
    private let signals = Atomic<Int>(0)

    public init() {}

    /// Signals so far: a loop that compares it before and after a round of work knows whether
    /// a signal came while it was not waiting (`PeriodicService` then starts the next round at once).
    public var count: Int { signals.load(ordering: .acquiring) }

    /// Tasks waiting now (tests).
    var waitingCount: Int { waiters.withLock { $0.count } }

    /// Wakes every task waiting now.
    public func signal() {
        signals.add(1, ordering: .releasing)
        let woken = waiters.withLock { waiting in
            defer { waiting = [:] }
            return Array(waiting.values)
        }
        for continuation in woken { continuation.resume() }
    }

    /// Returns at the next signal, after `timeout`, or when the task is cancelled; at once if
    /// `count` has moved past `since` (a signal came while the caller was busy).
    public func wait(upTo timeout: Duration, unlessSignalledSince since: Int? = nil) async {
        await withTaskGroup(of: Void.self) { group in
            group.addTask { try? await Task.sleep(for: timeout) }
            group.addTask { await self.nextSignal(since: since) }
            await group.next()
            group.cancelAll()
        }
    }

    private func nextSignal(since: Int?) async {
        let id = UUID()
        await withTaskCancellationHandler {
            await withCheckedContinuation { (continuation: CheckedContinuation<Void, Never>) in
                // Checked under the lock that `signal` takes after counting, so a signal is
                // either seen here or finds this waiter registered.
                let returnNow = waiters.withLock { waiting in
                    if Task.isCancelled || (since.map { $0 != count } ?? false) { return true }
                    waiting[id] = continuation
                    return false
                }
                if returnNow { continuation.resume() }
            }
        } onCancel: {
            waiters.withLock { $0.removeValue(forKey: id) }?.resume()
        }
    }
}
