import Foundation

/// How many forward passes run at once in this process. A forward pass uses every core (the
/// engine's parallel loops and OpenBLAS, docs/architecture.md), so two at once only slow each
/// other; the other steps of a job (assembly, resampling, encoding, file I/O) leave cores idle
/// and are worth running beside another job's forward pass. The node therefore runs one job more
/// than it allows forward passes (`overlap_jobs`), and each job waits here for its turn.
///
/// ```swift
/// ForwardPassGate.shared.limit = 1
/// let probabilities = ForwardPassGate.shared.withPermit { network.forward(x) }
/// ```
public final class ForwardPassGate: @unchecked Sendable {
    /// The process's gate; the engine's thread count is process-wide too.
    public static let shared = ForwardPassGate()

    private let condition = NSCondition()
    private var permits = 1
    private var running = 0

    public init(limit: Int = 1) {
        precondition(limit >= 1, "forward passes at once: \(limit)")
        permits = limit
    }

    /// Forward passes allowed at once (at least 1).
    public var limit: Int {
        get { condition.withLock { permits } }
        set {
            precondition(newValue >= 1, "forward passes at once: \(newValue)")
            condition.withLock {
                permits = newValue
                condition.broadcast()
            }
        }
    }

    /// Runs `body` once fewer than `limit` others are running; blocks the calling thread (a job's
    /// dedicated thread) until then.
    public func withPermit<T, E: Error>(_ body: () throws(E) -> T) throws(E) -> T {
        condition.withLock {
            while running >= permits { condition.wait() }
            running += 1
        }
        defer {
            condition.withLock {
                running -= 1
                condition.signal()
            }
        }
        return try body()
    }
}
