import Synchronization

#if canImport(Glibc)
    import Glibc
#endif

/// Opt-in wall-clock accounting of the engine's main op families, for `mambanode bench engine`.
///
/// Off by default (then each timed region costs one relaxed atomic load). Process-wide because
/// it only observes; it never changes results.
public enum Profile {
    /// Op families that are timed.
    public enum Category: Int, CaseIterable, Sendable {
        case convolution, mambaProjections, selectiveScan, other
        public var name: String {
            switch self {
            case .convolution: "3-D convolutions (im2col + sgemm + epilogue)"
            case .mambaProjections: "Mamba projections, causal conv, softplus"
            case .selectiveScan: "selective scan (incl. gate)"
            case .other: "other"
            }
        }
    }

    private static let enabledFlag = Atomic<Bool>(false)
    private static let totals = Mutex<[Int]>(Array(repeating: 0, count: Category.allCases.count))

    public static var isEnabled: Bool {
        get { enabledFlag.load(ordering: .relaxed) }
        set { enabledFlag.store(newValue, ordering: .relaxed) }
    }

    /// Zeroes all totals.
    public static func reset() { totals.withLock { $0 = $0.map { _ in 0 } } }

    /// Seconds accumulated per category.
    public static func seconds(_ c: Category) -> Double { Double(totals.withLock { $0[c.rawValue] }) / 1e9 }

    /// Runs `body`, adding its wall time to `category` when profiling is on.
    @inline(__always)
    static func time<T>(_ category: Category, _ body: () -> T) -> T {
        guard isEnabled else { return body() }
        let start = nanoseconds()
        let result = body()
        add(category, nanoseconds: nanoseconds() - start)
        return result
    }

    /// Adds `nanoseconds` to `category` (callers check `isEnabled`).
    static func add(_ category: Category, nanoseconds: Int) {
        totals.withLock { $0[category.rawValue] += nanoseconds }
    }

    /// Monotonic clock in nanoseconds.
    public static func nanoseconds() -> Int {
        var ts = timespec()
        clock_gettime(CLOCK_MONOTONIC, &ts)
        return ts.tv_sec * 1_000_000_000 + ts.tv_nsec
    }
}
