import Dispatch
import Foundation
import Synchronization

/// The number of worker threads to use: the configured count, else the active processors.
func workerCount(_ configured: Int?, items: Int) -> Int {
    max(1, min(items, configured ?? ProcessInfo.processInfo.activeProcessorCount))
}

/// Runs `body` for every index in 0..<count on `threads` threads; each thread takes the next index
/// from a shared counter, so slow items (compressed frames, big headers) do not leave a core idle.
/// `body` must only touch state it owns for that index.
func parallelFor(_ count: Int, threads: Int?, _ body: @Sendable (Int) -> Void) {
    let workers = workerCount(threads, items: count)
    if workers == 1 {
        for index in 0..<count { body(index) }
        return
    }
    let next = Atomic<Int>(0)
    DispatchQueue.concurrentPerform(iterations: workers) { _ in
        while true {
            let index = next.wrappingAdd(1, ordering: .relaxed).oldValue
            if index >= count { break }
            body(index)
        }
    }
}

/// `items.map(body)` computed on several threads, results in input order.
func parallelMap<T: Sendable, R: Sendable>(_ items: [T], threads: Int?, _ body: @Sendable (T) -> R) -> [R] {
    let results = UnsafeMutableBufferPointer<R?>.allocate(capacity: items.count)
    results.initialize(repeating: nil)
    // Deinitialise before freeing: the slots hold references (instances, errors), and freeing
    // alone would leak every one of them on each series scan (found by Scripts/fuzz volume).
    defer {
        _ = results.deinitialize()
        results.deallocate()
    }
    nonisolated(unsafe) let slots = results
    parallelFor(items.count, threads: threads) { index in slots[index] = body(items[index]) }
    return results.map { $0! }
}
