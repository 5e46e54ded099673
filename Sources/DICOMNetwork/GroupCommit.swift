import Foundation

/// Instances that arrive together share one flush (group commit, as databases commit
/// transactions): the first C-STORE to find no flush running takes every instance waiting,
/// indexes each (`onInstance`), flushes the store once (`InstanceStore.flush`) and releases all
/// of them; those that arrive meanwhile wait for the next round. An instance is answered only
/// after a flush that began after it was linked and indexed, so nothing is acknowledged before it
/// is on disk, and a single association pays one flush per instance.
final class GroupCommit: @unchecked Sendable {
    private let condition = NSCondition()
    private var waiting: [Ticket] = []
    private var flushing = false
    private let index: @Sendable (ReceivedInstance) throws -> Void
    private let flush: @Sendable () throws -> Void
    private let indexBeforeFlush: Bool
    private var roundCount = 0, instanceCount = 0

    /// Rounds (flushes) and instances committed so far.
    var rounds: Int { condition.withLock { roundCount } }
    var instances: Int { condition.withLock { instanceCount } }

    private final class Ticket {
        let instance: ReceivedInstance
        var outcome: Result<Void, any Error>?
        init(_ instance: ReceivedInstance) { self.instance = instance }
    }

    /// `indexBeforeFlush`: index each instance, then flush (the flush makes the index durable
    /// too); otherwise flush, then index (an index durable by itself never names a file that is
    /// not yet on disk).
    init(
        index: @escaping @Sendable (ReceivedInstance) throws -> Void, flush: @escaping @Sendable () throws -> Void,
        indexBeforeFlush: Bool = true
    ) {
        self.index = index
        self.flush = flush
        self.indexBeforeFlush = indexBeforeFlush
    }

    /// Indexes and flushes `instance` (with whatever else is waiting); returns once it is durable,
    /// or throws the error of its indexing or of the flush.
    func commit(_ instance: ReceivedInstance) throws {
        let ticket = Ticket(instance)
        condition.lock()
        waiting.append(ticket)
        while ticket.outcome == nil {
            guard !flushing else {
                condition.wait()
                continue
            }
            flushing = true
            let round = waiting
            waiting = []
            condition.unlock()
            let outcomes = commitRound(round.map(\.instance))
            condition.lock()
            for (waiter, outcome) in zip(round, outcomes) { waiter.outcome = outcome }
            roundCount += 1
            instanceCount += round.count
            flushing = false
            condition.broadcast()
        }
        condition.unlock()
        try ticket.outcome!.get()
    }

    /// Indexes each instance and flushes once, in the configured order; a failed flush fails the
    /// whole round.
    private func commitRound(_ round: [ReceivedInstance]) -> [Result<Void, any Error>] {
        if !indexBeforeFlush {
            do {
                try flush()
            } catch {
                return round.map { _ in .failure(error) }
            }
            return round.map { instance in Result { try index(instance) } }
        }
        var outcomes = round.map { instance in Result { try index(instance) } }
        do {
            try flush()
        } catch {
            outcomes = round.map { _ in .failure(error) }
        }
        return outcomes
    }
}
