import Foundation
import Synchronization

/// Wakes tasks that wait for something to do (idle job workers when jobs were queued), with a
/// timeout as the fallback: a waiter that misses a signal still looks again after its timeout.
public final class WakeSignal: Sendable {
    private let waiters = Mutex<[UUID: CheckedContinuation<Void, Never>]>([:])

    public init() {}

    /// Tasks waiting now (tests).
    var waitingCount: Int { waiters.withLock { $0.count } }

    /// Wakes every task waiting now.
    public func signal() {
        let woken = waiters.withLock { waiting in
            defer { waiting = [:] }
            return Array(waiting.values)
        }
        for continuation in woken { continuation.resume() }
    }

    /// Returns at the next signal, after `timeout`, or when the task is cancelled.
    public func wait(upTo timeout: Duration) async {
        await withTaskGroup(of: Void.self) { group in
            group.addTask { try? await Task.sleep(for: timeout) }
            group.addTask { await self.nextSignal() }
            await group.next()
            group.cancelAll()
        }
    }

    private func nextSignal() async {
        let id = UUID()
        await withTaskCancellationHandler {
            await withCheckedContinuation { (continuation: CheckedContinuation<Void, Never>) in
                let cancelled = waiters.withLock { waiting in
                    if Task.isCancelled { return true }
                    waiting[id] = continuation
                    return false
                }
                if cancelled { continuation.resume() }
            }
        } onCancel: {
            waiters.withLock { $0.removeValue(forKey: id) }?.resume()
        }
    }
}
