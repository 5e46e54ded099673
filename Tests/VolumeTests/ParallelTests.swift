import Synchronization
import Testing

@testable import Volume

@Suite struct ParallelTests {
    /// Counts its own deinitialisations.
    final class Tracked: Sendable {
        static let released = Atomic<Int>(0)
        let index: Int
        init(_ index: Int) { self.index = index }
        deinit { Self.released.add(1, ordering: .relaxed) }
    }

    /// parallelMap keeps input order, and every result it made is released once the caller drops
    /// the array (it once freed its slots without releasing them: every scanned instance leaked).
    @Test func resultsAreInOrderAndReleased() {
        let before = Tracked.released.load(ordering: .relaxed)
        do {
            let results = parallelMap(Array(0..<64), threads: 2) { Tracked($0) }
            #expect(results.map(\.index) == Array(0..<64))
        }
        #expect(Tracked.released.load(ordering: .relaxed) - before == 64)
    }
}
