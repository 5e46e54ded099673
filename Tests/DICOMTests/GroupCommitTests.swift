import Foundation
import Synchronization
import Testing

@testable import DICOMNetwork

/// Instances that arrive while a flush runs share the next one; each is answered only after a
/// flush that followed its indexing; a failed index fails its instance, a failed flush its round.
@Suite struct GroupCommitTests {
    static func instance(_ n: Int) -> ReceivedInstance {
        ReceivedInstance(
            path: "/store/\(n).dcm", sopClassUID: "1.2.840.10008.5.1.4.1.1.2", sopInstanceUID: "1.2.3.\(n)",
            transferSyntaxUID: "1.2.840.10008.1.2.1",
            association: AssociationInfo(id: UInt64(n), callingAETitle: "CT", calledAETitle: "NODE", peer: "127.0.0.1"),
            isDuplicate: false)
    }

    /// What happened, in order: "index N" and "flush".
    final class Log: Sendable {
        let events = Mutex<[String]>([])
        func add(_ event: String) { events.withLock { $0.append(event) } }
        var all: [String] { events.withLock { $0 } }
    }

    @Test func instancesArrivingDuringAFlushShareTheNextOne() {
        let log = Log()
        let firstFlushStarted = DispatchSemaphore(value: 0), othersQueued = DispatchSemaphore(value: 0)
        let flushes = Atomic<Int>(0)
        let group = GroupCommit(
            index: { log.add("index \($0.sopInstanceUID)") },
            flush: {
                if flushes.wrappingAdd(1, ordering: .sequentiallyConsistent).oldValue == 0 {
                    // Hold the first flush until the other commits are waiting behind it.
                    firstFlushStarted.signal()
                    othersQueued.wait()
                }
                log.add("flush")
            })
        let answered = Mutex<[String: Int]>([:]) // instance → events logged when it was answered
        let done = DispatchGroup()
        func commit(_ n: Int) {
            done.enter()
            Thread.detachNewThread {
                let instance = Self.instance(n)
                #expect(throws: Never.self) { try group.commit(instance) }
                answered.withLock { $0[instance.sopInstanceUID] = log.all.count }
                done.leave()
            }
        }
        commit(0)
        firstFlushStarted.wait()
        for n in 1...5 { commit(n) }
        // The five are queued once the round's index calls could not have started: give them time.
        Thread.sleep(forTimeInterval: 0.3)
        othersQueued.signal()
        #expect(done.wait(timeout: .now() + 20) == .success)
        let events = log.all
        #expect(group.rounds == 2, "\(events)")
        #expect(group.instances == 6)
        #expect(events.filter { $0 == "flush" }.count == 2)
        // Every instance was indexed before the flush that preceded its answer.
        for (uid, count) in answered.withLock({ $0 }) {
            let seen = events.prefix(count)
            let indexed = try! #require(seen.firstIndex(of: "index \(uid)"))
            #expect(seen[indexed...].contains("flush"), "\(uid) answered before a flush after its index")
        }
    }

    @Test func aFailedIndexFailsItsInstanceAndAFailedFlushItsRound() {
        struct Refused: Error {}
        let failFlush = Atomic<Bool>(false)
        let group = GroupCommit(
            index: { if $0.sopInstanceUID == "1.2.3.1" { throw Refused() } },
            flush: { if failFlush.load(ordering: .sequentiallyConsistent) { throw Refused() } })
        #expect(throws: Never.self) { try group.commit(Self.instance(0)) }
        #expect(throws: Refused.self) { try group.commit(Self.instance(1)) }
        failFlush.store(true, ordering: .sequentiallyConsistent)
        #expect(throws: Refused.self) { try group.commit(Self.instance(2)) }
        #expect(group.rounds == 3)
    }

    /// With an index that is durable on its own, the flush comes first: no index entry ever names
    /// a file that is not yet on disk, and a failed flush indexes nothing.
    @Test func anIndexDurableOnItsOwnRunsAfterTheFlush() {
        struct Refused: Error {}
        let log = Log()
        let failFlush = Atomic<Bool>(false)
        let group = GroupCommit(
            index: { log.add("index \($0.sopInstanceUID)") },
            flush: {
                if failFlush.load(ordering: .sequentiallyConsistent) { throw Refused() }
                log.add("flush")
            }, indexBeforeFlush: false)
        #expect(throws: Never.self) { try group.commit(Self.instance(0)) }
        #expect(log.all == ["flush", "index 1.2.3.0"])
        failFlush.store(true, ordering: .sequentiallyConsistent)
        #expect(throws: Refused.self) { try group.commit(Self.instance(1)) }
        #expect(log.all == ["flush", "index 1.2.3.0"], "nothing indexed after a failed flush")
    }
}
