import Synchronization

#if canImport(Glibc)
    import Glibc
#endif

/// The engine's op families whose wall time an observer can receive.
public enum EngineRegion: Int, CaseIterable, Sendable {
    /// 3-D convolutions: im2col, sgemm and the bias/activation epilogue.
    case convolution
    /// The Mamba block's projections, causal convolution and softplus.
    case mambaProjections
    /// The selective scan, gate included.
    case selectiveScan
}

/// Receives the wall time of each timed region while installed (a profiler such as
/// `mambanode bench engine`'s). Called from the engine's threads, concurrently.
public protocol EngineObserver: Sendable {
    func record(_ region: EngineRegion, nanoseconds: Int)
}

/// The engine's timing hooks: nothing is measured unless an observer is installed, and then each
/// region reports to it. Without one, a region costs one relaxed atomic load. Observing never
/// changes results.
public enum Instrumentation {
    private static let active = Atomic<Bool>(false)
    private static let observer = Mutex<(any EngineObserver)?>(nil)

    /// Installs `observer` (nil removes it) for every engine in the process.
    public static func install(_ observer: (any EngineObserver)?) {
        self.observer.withLock { $0 = observer }
        active.store(observer != nil, ordering: .releasing)
    }

    /// Whether an observer is installed.
    @inline(__always)
    static var isActive: Bool { active.load(ordering: .relaxed) }

    /// Runs `body`, reporting its wall time as `region` when an observer is installed.
    @inline(__always)
    static func time<T>(_ region: EngineRegion, _ body: () -> T) -> T {
        guard isActive else { return body() }
        let start = nanoseconds()
        let result = body()
        record(region, nanoseconds: nanoseconds() - start)
        return result
    }

    /// Reports `nanoseconds` of `region` to the observer, if one is installed.
    static func record(_ region: EngineRegion, nanoseconds: Int) {
        observer.withLock { $0 }?.record(region, nanoseconds: nanoseconds)
    }

    /// Monotonic clock in nanoseconds.
    public static func nanoseconds() -> Int {
        var ts = timespec()
        clock_gettime(CLOCK_MONOTONIC, &ts)
        return ts.tv_sec * 1_000_000_000 + ts.tv_nsec
    }
}
