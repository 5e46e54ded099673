import Foundation

/// Work that the jobs of several models on one series share: the assembled volumes and, where
/// their preprocessing agrees, the normalised network input.
///
/// A route with three models on a CT makes three jobs of the same series, which the job workers
/// run at once or one after another. Each value is made once: a job that asks while another job
/// makes it waits for that one; a job that asks later gets the kept value. A value is kept only
/// while more jobs are expected to ask (the caller says how many), and at most `capacity` values
/// are kept, the oldest dropped first: an assembled 512² CT of 300 slices is 300 MiB of Float.
public final class SharedInputs: @unchecked Sendable {
    /// Values kept at once; more would hold several volumes for jobs that may never come.
    public let capacity: Int

    private enum Slot {
        case making
        case made(any Sendable, remainingUses: Int, age: Int)
    }

    // Guarded by `condition`.
    private let condition = NSCondition()
    private var slots: [String: Slot] = [:]
    private var waiting: [String: Int] = [:]
    private var clock = 0

    public init(capacity: Int = 2) {
        precondition(capacity >= 0, "capacity \(capacity)")
        self.capacity = capacity
    }

    /// The value for `key`, made by `make` unless another caller made it or is making it.
    ///
    /// - Parameter expectedUses: how many callers in all (this one included) will ask for `key`;
    ///   with 1 the value is not kept. A caller whose `make` throws leaves the key to the next
    ///   caller, which makes it again (and meets the same error, if it is the input's fault).
    public func value<T: Sendable>(for key: String, expectedUses: Int, make: () throws -> T) throws -> T {
        condition.lock()
        while true {
            switch slots[key] {
            case .made(let value, let remaining, let age)?:
                if let value = value as? T {
                    if remaining <= 1 {
                        slots[key] = nil
                    } else {
                        slots[key] = .made(value, remainingUses: remaining - 1, age: age)
                    }
                    condition.unlock()
                    return value
                }
                slots[key] = nil // a value of another type under this key: made anew
            case .making?:
                waiting[key, default: 0] += 1
                condition.wait()
                waiting[key, default: 1] -= 1
                if waiting[key] == 0 { waiting[key] = nil }
                continue
            case nil:
                break
            }
            break
        }
        slots[key] = .making
        condition.unlock()

        let made: T
        do {
            made = try make()
        } catch {
            condition.lock()
            slots[key] = nil
            condition.broadcast()
            condition.unlock()
            throw error
        }
        condition.lock()
        defer {
            condition.broadcast()
            condition.unlock()
        }
        slots[key] = nil
        // Callers already waiting take it whatever `expectedUses` says, so it is not made twice.
        let remaining = max(expectedUses - 1, waiting[key] ?? 0)
        guard remaining > 0 && (capacity > 0 || waiting[key] != nil) else { return made }
        clock += 1
        slots[key] = .made(made, remainingUses: remaining, age: clock)
        evictBeyondCapacity()
        return made
    }

    /// Number of values kept now (for tests and the node's diagnostics).
    public var keptCount: Int {
        condition.lock()
        defer { condition.unlock() }
        return slots.values.filter { if case .made = $0 { return true } else { return false } }.count
    }

    /// Callers waiting now for `key` to be made (for tests).
    func waitingCount(for key: String) -> Int {
        condition.lock()
        defer { condition.unlock() }
        return waiting[key] ?? 0
    }

    /// Drops every kept value (e.g. when the disk or memory is short).
    public func removeAll() {
        condition.lock()
        slots = slots.filter { if case .making = $0.value { return true } else { return false } }
        condition.unlock()
    }

    private func evictBeyondCapacity() {
        // A value that callers are waiting for is theirs, whatever the capacity.
        let kept = slots.compactMap { key, slot -> (String, Int)? in
            guard case .made(_, _, let age) = slot, waiting[key] == nil else { return nil }
            return (key, age)
        }
        guard kept.count > capacity else { return }
        for (key, _) in kept.sorted(by: { $0.1 < $1.1 }).prefix(kept.count - capacity) { slots[key] = nil }
    }
}
