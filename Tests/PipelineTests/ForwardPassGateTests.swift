import Foundation
import Synchronization
import Testing

@testable import Pipeline

/// The gate lets `limit` bodies run at once and makes the others wait, on plain threads (a job
/// runs on a dedicated thread and blocks there).
@Suite struct ForwardPassGateTests {
    /// Runs `threads` bodies through `gate` at once; returns the most that were inside together.
    static func mostAtOnce(_ gate: ForwardPassGate, threads: Int) -> Int {
        let counts = Mutex((inside: 0, most: 0))
        DispatchQueue.concurrentPerform(iterations: threads) { _ in
            gate.withPermit { () -> Void in
                counts.withLock {
                    $0.inside += 1
                    $0.most = max($0.most, $0.inside)
                }
                // Long enough that the other threads arrive while this one is inside.
                usleep(20_000)
                counts.withLock { $0.inside -= 1 }
            }
        }
        return counts.withLock { $0.most }
    }

    @Test func oneAtATimeUnderALimitOfOne() {
        #expect(Self.mostAtOnce(ForwardPassGate(limit: 1), threads: 4) == 1)
    }

    @Test func twoTogetherUnderALimitOfTwo() {
        // Both bodies wait for each other inside, which only ends if the gate lets both in.
        let gate = ForwardPassGate(limit: 2)
        let arrived = DispatchGroup()
        arrived.enter()
        arrived.enter()
        let finished = DispatchGroup()
        let waits = Mutex<[DispatchTimeoutResult]>([])
        for _ in 0..<2 {
            finished.enter()
            Thread.detachNewThread {
                gate.withPermit { () -> Void in
                    arrived.leave()
                    let result = arrived.wait(timeout: .now() + 10)
                    waits.withLock { $0.append(result) }
                }
                finished.leave()
            }
        }
        #expect(finished.wait(timeout: .now() + 30) == .success)
        #expect(waits.withLock { $0 } == [.success, .success], "the bodies were not inside together")
    }

    /// A thread that takes a permit of `gate` and keeps it until the returned semaphore is
    /// signalled; returns once it holds it.
    static func holdPermit(of gate: ForwardPassGate) -> DispatchSemaphore {
        let holding = DispatchSemaphore(value: 0), release = DispatchSemaphore(value: 0)
        Thread.detachNewThread {
            gate.withPermit { () -> Void in
                holding.signal()
                release.wait()
            }
        }
        holding.wait()
        return release
    }

    /// Jobs waiting for the forward pass go in job order (their turn), not in the order the
    /// condition variable happens to wake them; bodies without a turn go after, as they arrived.
    @Test func waitersGoInTheOrderOfTheirTurns() {
        let gate = ForwardPassGate(limit: 1)
        let release = Self.holdPermit(of: gate)
        let entered = Mutex<[Int]>([])
        let finished = DispatchGroup()
        for (index, turn) in [5, nil, 3, 4].enumerated() {
            finished.enter()
            Thread.detachNewThread {
                gate.withPermit(turn: turn) { () -> Void in entered.withLock { $0.append(turn ?? 99) } }
                finished.leave()
            }
            // Each is waiting before the next arrives.
            let deadline = Date().addingTimeInterval(10)
            while gate.waitingCount < index + 1 && Date() < deadline { usleep(1000) }
        }
        #expect(gate.waitingCount == 4)
        release.signal()
        #expect(finished.wait(timeout: .now() + 30) == .success)
        #expect(entered.withLock { $0 } == [3, 4, 5, 99])
    }

    @Test func raisingTheLimitReleasesAWaiter() {
        let gate = ForwardPassGate(limit: 1)
        let release = Self.holdPermit(of: gate)
        let second = DispatchSemaphore(value: 0)
        Thread.detachNewThread { gate.withPermit { () -> Void in second.signal() } }
        #expect(second.wait(timeout: .now() + 0.2) == .timedOut, "a second body got in under a limit of 1")
        gate.limit = 2
        #expect(second.wait(timeout: .now() + 10) == .success)
        release.signal()
    }
}
