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
    /// The waiting bodies' places in line: (turn, arrival).
    private var waiting: [(turn: Int, arrival: Int)] = []
    private var arrivals = 0

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

    /// Runs `body` once fewer than `limit` others are running and no body with an earlier
    /// `turn` (the job's id: queued earlier) is waiting; bodies of one turn, or without one, go in
    /// the order they arrived. Blocks the calling thread (a job's dedicated thread) until then.
    /// In job order, the last forward pass of a batch is its last job's, not one whose encoding
    /// is still to come (a condition variable alone wakes waiters in no particular order).
    public func withPermit<T, E: Error>(turn: Int? = nil, _ body: () throws(E) -> T) throws(E) -> T {
        condition.withLock {
            let place = (turn: turn ?? Int.max, arrival: arrivals)
            arrivals += 1
            waiting.append(place)
            while running >= permits || waiting.min(by: Self.earlier).map({ $0 != place }) ?? false {
                condition.wait()
            }
            waiting.removeAll { $0 == place }
            running += 1
            // The next in line may fit too (a limit above 1).
            condition.broadcast()
        }
        defer {
            condition.withLock {
                running -= 1
                condition.broadcast()
            }
        }
        return try body()
    }

    /// Bodies waiting now (tests).
    var waitingCount: Int { condition.withLock { waiting.count } }

    private static func earlier(_ a: (turn: Int, arrival: Int), _ b: (turn: Int, arrival: Int)) -> Bool {
        (a.turn, a.arrival) < (b.turn, b.arrival)
    }
}
