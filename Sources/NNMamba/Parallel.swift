import COpenBLAS
import Dispatch
import Synchronization

/// Thread count of the engine: the workers of its own parallel loops, which also split each GEMM
/// (OpenBLAS itself runs single-threaded, see `Gemm`).
///
/// Process-wide; set it once at start-up (`Parallel.setThreadCount(2)`), not per call.
public enum Parallel {
    private static let threads = Atomic<Int>(0)

    /// Number of threads the engine uses (default: all cores).
    public static var threadCount: Int {
        let n = threads.load(ordering: .relaxed)
        return n > 0 ? n : max(1, sysconf_cores())
    }

    /// Sets the engine's thread count.
    public static func setThreadCount(_ n: Int) {
        precondition(n >= 1, "thread count \(n)")
        threads.store(n, ordering: .relaxed)
        Gemm.prepare()
    }

    /// Runs `body(range)` over `count` items split into at most `threadCount` contiguous chunks
    /// (aligned to `granularity`), concurrently. Tight synchronous loop; returns when all are done.
    public static func forChunks(_ count: Int, granularity: Int = 1, _ body: (Range<Int>) -> Void) {
        guard count > 0 else { return }
        let units = (count + granularity - 1) / granularity
        let chunks = min(threadCount, units)
        if chunks <= 1 {
            body(0..<count)
            return
        }
        withoutActuallyEscaping(body) { body in
            // The chunks touch disjoint data by contract; the box only carries the closure across.
            let box = UncheckedSendableBox(body)
            DispatchQueue.concurrentPerform(iterations: chunks) { i in
                let lo = units * i / chunks * granularity
                let hi = min(count, units * (i + 1) / chunks * granularity)
                if lo < hi { box.value(lo..<hi) }
            }
        }
    }

    private static func sysconf_cores() -> Int {
        #if canImport(Glibc)
            return Int(sysconf(Int32(_SC_NPROCESSORS_ONLN)))
        #else
            return 1
        #endif
    }
}

/// Carries a non-Sendable value into a concurrent loop whose iterations use it safely.
struct UncheckedSendableBox<T>: @unchecked Sendable {
    let value: T
    init(_ value: T) { self.value = value }
}

#if canImport(Glibc)
    import Glibc
#endif
