import Foundation
import GRDB
import TestSupport
import Testing

@testable import Node

/// The series, study and job lifecycles driven through every (state, event) pair without a
/// database: each allowed event gives the documented state, each other one is refused with a
/// ``LifecycleError`` naming the subject, state and event, and leaves the record as it was.
@Suite struct LifecycleTests {
    static let configuration = try! NodeConfiguration.parse(
        """
        destinations: [{ name: pacs, ae_title: PACS, host: 127.0.0.1, port: 4242 }]
        models: { organs: /m/organs, landmarks: /m/landmarks, brain: /m/brain }
        routes:
          - { name: ct, models: [organs, landmarks], destinations: [pacs], quiet_time: 10s, hard_cap: 100s }
          - name: brain
            level: study
            model: brain
            destinations: [pacs]
            quiet_time: 20s
            give_up: 300s
            close_on_expected_count: false
            channels:
              - { name: t1, match: [{ tag: SeriesDescription, contains: T1 }] }
              - { name: flair, match: [{ tag: SeriesDescription, contains: FLAIR }] }
        """)
    static let seriesRoute = configuration.routes.first { $0.name == "ct" }!
    static let studyRoute = configuration.routes.first { $0.name == "brain" }!
    let t0 = Date(timeIntervalSince1970: 1_800_000_000)

    // MARK: - Series

    func series(_ state: SeriesState, route: Route? = LifecycleTests.seriesRoute) -> SeriesRecord {
        var (record, _) = SeriesRecord.started(
            uid: "1.2.3.1", study: "1.2.3", route: route, unroutedQuiet: 45,
            channel: nil, reason: "none", expectedCount: nil, association: "run/1",
            at: t0, correlationID: "c")
        record.state = state
        return record
    }

    typealias SeriesEvent = @Sendable (inout SeriesRecord) throws(LifecycleError) -> Void

    /// Each series event with the state it leads to from each state; states absent refuse it.
    static let seriesEvents: [(name: String, apply: SeriesEvent, to: [SeriesState: SeriesState])] = [
        (
            "complete, series route",
            { r throws(LifecycleError) in _ = try r.complete(.quietTimePassed, route: seriesRoute) },
            [.receiving: .queued]
        ),
        (
            "complete, study route",
            { r throws(LifecycleError) in _ = try r.complete(.quietTimePassed, route: studyRoute) },
            [.receiving: .stable]
        ),
        (
            "complete, no route", { r throws(LifecycleError) in _ = try r.complete(.hardCapReached, route: nil) },
            [.receiving: .unrouted]
        ),
        ("study queued", { r throws(LifecycleError) in try r.studyQueued() }, [.stable: .queued]),
        (
            "study abandoned", { r throws(LifecycleError) in try r.studyAbandoned(reason: "missing flair") },
            [.stable: .failed, .receiving: .failed]
        ),
        (
            "job claimed", { r throws(LifecycleError) in try r.jobClaimed() },
            [.queued: .processing, .processing: .processing]
        ),
        (
            "job ended, siblings pending", { r throws(LifecycleError) in try r.jobEndedWithSiblingsPending() },
            [.queued: .processing, .processing: .processing]
        ),
        (
            "jobs settled done", { r throws(LifecycleError) in try r.jobsSettled(.done(note: nil)) },
            [.queued: .done, .processing: .done]
        ),
        (
            "jobs settled failed", { r throws(LifecycleError) in try r.jobsSettled(.failed(reason: "x")) },
            [.queued: .failed, .processing: .failed]
        )
    ]

    @Test(arguments: SeriesState.allCases)
    func everySeriesEventFromEveryState(state: SeriesState) {
        for event in Self.seriesEvents {
            var record = series(state)
            let before = record
            do throws(LifecycleError) {
                try event.apply(&record)
                #expect(event.to[state] == record.state, "\(event.name) from \(state) gave \(record.state)")
            } catch {
                #expect(event.to[state] == nil, "\(event.name) from \(state) was refused: \(error)")
                #expect(record == before, "a refused event changed the record")
                #expect(error.subject == "series 1.2.3.1" && error.state == state.rawValue && !error.event.isEmpty)
            }
        }
    }

    /// Events every state takes: another instance, and a restart of the node.
    @Test(arguments: SeriesState.allCases)
    func instancesAndRestartsAreTakenInEveryState(state: SeriesState) {
        var record = series(state)
        let actions = record.instanceArrived(
            at: t0.addingTimeInterval(5), expectedCount: nil, association: "run/2",
            route: Self.seriesRoute, unroutedQuiet: 45)
        #expect(record.instanceCount == 2 && record.lastReceivedAt == t0.addingTimeInterval(5))
        #expect(actions.isEmpty)
        switch state {
        case .unrouted:
            #expect(record.state == .unrouted && record.version == 1, "not routed stays final")
        case .receiving, .stable:
            #expect(record.state == .receiving && record.version == 1)
        case .queued, .processing, .done, .failed:
            #expect(record.state == .receiving && record.version == 2, "a late instance opens a new result version")
            #expect(record.firstReceivedAt == t0.addingTimeInterval(5) && record.reason == nil)
        }

        var restarted = series(state)
        restarted.feedingAssociation = nil // its association ended normally before the stop
        var before = restarted
        restarted.nodeRestarted(at: t0.addingTimeInterval(3600), route: Self.seriesRoute, unroutedQuiet: 45)
        if state == .receiving {
            #expect(restarted.quietDeadline == t0.addingTimeInterval(3610), "a fresh quiet time from the restart")
            #expect(restarted.interruption == nil)
        } else {
            #expect(restarted == before)
        }

        // Stopped while an association was still sending it: interrupted, its grace from the restart.
        var feeding = series(state)
        before = feeding
        feeding.nodeRestarted(at: t0.addingTimeInterval(3600), route: Self.seriesRoute, unroutedQuiet: 45)
        if state == .receiving {
            #expect(feeding.interruption == "the node stopped while an association was sending it")
            #expect(feeding.quietDeadline == t0.addingTimeInterval(3600 + 600) && feeding.feedingAssociation == nil)
        } else {
            #expect(feeding == before)
        }
    }

    /// How an association ended, in every state: only a receiving series changes.
    @Test(arguments: SeriesState.allCases)
    func associationEndsAreTakenInEveryState(state: SeriesState) {
        var aborted = series(state)
        let before = aborted
        aborted.associationEnded(
            "run/1", normally: false, how: "aborted by peer", route: Self.seriesRoute, unroutedQuiet: 45)
        guard state == .receiving else {
            #expect(aborted == before)
            return
        }
        #expect(aborted.interruption == "aborted by peer" && aborted.feedingAssociation == nil)
        #expect(aborted.quietDeadline == t0.addingTimeInterval(600), "the grace, not the quiet time")
        #expect(
            aborted.completion(at: t0.addingTimeInterval(99), route: Self.seriesRoute) == nil,
            "quiet time alone does not complete an interrupted series")
        #expect(aborted.completion(at: t0.addingTimeInterval(600), route: Self.seriesRoute) == .interruptedGracePassed)

        // A later association that adds to it and ends normally clears the interruption.
        _ = aborted.instanceArrived(
            at: t0.addingTimeInterval(60), expectedCount: nil, association: "run/2",
            route: Self.seriesRoute, unroutedQuiet: 45)
        #expect(aborted.quietDeadline == t0.addingTimeInterval(660) && aborted.interruption != nil)
        aborted.associationEnded("run/2", normally: true, how: "released", route: Self.seriesRoute, unroutedQuiet: 45)
        #expect(aborted.interruption == nil && aborted.quietDeadline == t0.addingTimeInterval(70))
        #expect(aborted.completion(at: t0.addingTimeInterval(70), route: Self.seriesRoute) == .quietTimePassed)
    }

    @Test(arguments: SeriesState.allCases)
    func repeatedInstancesMakeTheirAssociationFeedAReceivingSeries(state: SeriesState) {
        var record = series(state)
        let before = record
        record.instanceRepeated(association: "run/9")
        #expect(state == .receiving ? record.feedingAssociation == "run/9" : record == before)
        #expect(record.instanceCount == before.instanceCount, "nothing new was stored")
    }

    @Test func anInterruptedSeriesCarriesItsCaveatIntoItsJobs() throws {
        var record = series(.receiving)
        record.associationEnded(
            "run/1", normally: false, how: "the association from CT01 ended abnormally",
            route: nil, unroutedQuiet: 45)
        let caveat =
            "Series 1.2.3.1 may be incomplete: 1 instance received; the association from CT01 ended abnormally."
        #expect(
            try record.complete(.interruptedGracePassed, route: Self.seriesRoute)
                == [.queueJobs(route: "ct", models: ["organs", "landmarks"], caveats: [caveat])])
        #expect(record.interruption != nil, "the API keeps showing it")
        // Every announced instance arrived after all: nothing to warn about.
        var counted = series(.receiving)
        counted.associationEnded("run/1", normally: false, how: "aborted", route: nil, unroutedQuiet: 45)
        counted.expectedCount = 1
        #expect(
            try counted.complete(.expectedCountReached, route: Self.seriesRoute)
                == [.queueJobs(route: "ct", models: ["organs", "landmarks"], caveats: [])])
    }

    @Test func completionSaysWhyInOrder() {
        var record = series(.receiving)
        #expect(record.completion(at: t0.addingTimeInterval(9), route: Self.seriesRoute) == nil)
        #expect(record.completion(at: t0.addingTimeInterval(10), route: Self.seriesRoute) == .quietTimePassed)
        record.expectedCount = 1
        #expect(record.completion(at: t0, route: Self.seriesRoute) == .expectedCountReached)
        #expect(record.completion(at: t0, route: Self.studyRoute) == nil, "only routes that close on the count")
        record.lastReceivedAt = t0.addingTimeInterval(95)
        record.quietDeadline = t0.addingTimeInterval(105)
        record.expectedCount = nil
        #expect(record.completion(at: t0.addingTimeInterval(100), route: Self.seriesRoute) == .hardCapReached)
        record.state = .stable
        #expect(record.completion(at: t0.addingTimeInterval(1000), route: Self.seriesRoute) == nil)
    }

    @Test func actionsNameTheJobsAndTheStudy() throws {
        var record = series(.receiving)
        #expect(
            try record.complete(.quietTimePassed, route: Self.seriesRoute)
                == [.queueJobs(route: "ct", models: ["organs", "landmarks"], caveats: [])])
        let (study, actions) = SeriesRecord.started(
            uid: "1.9.1", study: "1.9", route: Self.studyRoute,
            unroutedQuiet: 45, channel: "t1", reason: nil, expectedCount: nil,
            association: nil, at: t0, correlationID: "c")
        #expect(actions == [.touchStudy(route: "brain")] && study.channel == "t1")
        var late = series(.done, route: Self.studyRoute)
        #expect(
            late.instanceArrived(
                at: t0, expectedCount: nil, association: nil, route: Self.studyRoute, unroutedQuiet: 45)
                == [.touchStudy(route: "brain")])
        let (unrouted, none) = SeriesRecord.started(
            uid: "9.9", study: "9", route: nil, unroutedQuiet: 5, channel: nil,
            reason: "no route matched (ct: Modality == \"CT\")",
            expectedCount: nil, association: nil, at: t0, correlationID: "c")
        #expect(none.isEmpty && unrouted.reason?.contains("ct") == true)
        // A series no route matched waits the node's unrouted quiet time, then is final.
        #expect(unrouted.quietDeadline == t0.addingTimeInterval(5))
        #expect(unrouted.completion(at: t0.addingTimeInterval(5), route: nil) == .quietTimePassed)
    }

    // MARK: - Study

    func study(_ state: StudyState) -> StudyRecord {
        var record = StudyRecord.started(uid: "1.9", route: Self.studyRoute, at: t0, correlationID: "c")
        record.state = state
        return record
    }

    typealias StudyEvent = @Sendable (inout StudyRecord) throws(LifecycleError) -> Void

    static let studyEvents: [(name: String, apply: StudyEvent, to: [StudyState: StudyState])] = [
        (
            "complete", { r throws(LifecycleError) in _ = try r.complete(inputs: ["t1": ["1"]], route: studyRoute) },
            [.receiving: .queued]
        ),
        ("give up", { r throws(LifecycleError) in _ = try r.giveUp(reason: "missing flair") }, [.receiving: .failed]),
        (
            "job claimed", { r throws(LifecycleError) in try r.jobClaimed() },
            [.queued: .processing, .processing: .processing]
        ),
        (
            "job ended, siblings pending", { r throws(LifecycleError) in try r.jobEndedWithSiblingsPending() },
            [.queued: .processing, .processing: .processing]
        ),
        (
            "jobs settled done", { r throws(LifecycleError) in try r.jobsSettled(.done(note: "n")) },
            [.queued: .done, .processing: .done]
        ),
        (
            "jobs settled failed", { r throws(LifecycleError) in try r.jobsSettled(.failed(reason: "x")) },
            [.queued: .failed, .processing: .failed]
        )
    ]

    @Test(arguments: StudyState.allCases)
    func everyStudyEventFromEveryState(state: StudyState) {
        for event in Self.studyEvents {
            var record = study(state)
            let before = record
            do throws(LifecycleError) {
                try event.apply(&record)
                #expect(event.to[state] == record.state, "\(event.name) from \(state) gave \(record.state)")
            } catch {
                #expect(event.to[state] == nil, "\(event.name) from \(state) was refused: \(error)")
                #expect(
                    record == before && error.subject == "study 1.9"
                        && error.event
                            == event.name.replacingOccurrences(
                                of: " done", with: ""
                            ).replacingOccurrences(of: " failed", with: "")
                )
            }
        }
        var record = study(state)
        record.instanceArrived(at: t0.addingTimeInterval(7), route: Self.studyRoute)
        #expect(record.state == .receiving && record.quietDeadline == t0.addingTimeInterval(27))
        #expect(record.version == (state == .receiving ? 1 : 2), "a processed study re-opens as a new version")
    }

    @Test func studyReadinessWaitsForEveryChannelAndQuiet() throws {
        var record = study(.receiving)
        func member(_ uid: String, _ channel: String, _ state: SeriesState, at seconds: Double) -> SeriesRecord {
            var s = series(state, route: Self.studyRoute)
            s.seriesInstanceUID = uid
            s.channel = channel
            s.lastReceivedAt = t0.addingTimeInterval(seconds)
            return s
        }
        let t1 = member("1.9.1", "t1", .stable, at: 0)
        #expect(record.readiness(at: t0.addingTimeInterval(30), route: Self.studyRoute, series: [t1]) == .waiting)
        let flair = member("1.9.2", "flair", .stable, at: 1)
        let t1Again = member("1.9.3", "t1", .stable, at: 5)
        #expect(
            record.readiness(at: t0.addingTimeInterval(10), route: Self.studyRoute, series: [t1, flair]) == .waiting,
            "not quiet yet")
        #expect(
            record.readiness(at: t0.addingTimeInterval(30), route: Self.studyRoute, series: [t1, flair, t1Again])
                == .complete(inputs: ["t1": ["1.9.3"], "flair": ["1.9.2"]]), "the newest series fills a channel")
        let arriving = member("1.9.4", "t1", .receiving, at: 6)
        #expect(
            record.readiness(at: t0.addingTimeInterval(30), route: Self.studyRoute, series: [t1, flair, arriving])
                == .waiting)
        #expect(
            record.readiness(at: t0.addingTimeInterval(300), route: Self.studyRoute, series: [t1])
                == .gaveUp(reason: "gave up waiting: missing flair"))
        #expect(
            try record.giveUp(reason: "gave up waiting: missing flair")
                == [.abandonSeries(reason: "gave up waiting: missing flair")])
    }

    /// What closing a study decides for both stores: nothing while it waits; complete, a job
    /// per model on the chosen series (queued, carrying their caveats) and the older series of a
    /// channel left as they were; given up, its waiting series failed with the reason.
    @Test func closingAStudyNamesTheSeriesToSaveAndTheJobsToInsert() throws {
        func member(
            _ uid: String, _ channel: String, _ state: SeriesState, interrupted: Bool = false, at seconds: Double
        )
            -> SeriesRecord
        {
            var s = series(state, route: Self.studyRoute)
            s.seriesInstanceUID = uid
            s.channel = channel
            s.lastReceivedAt = t0.addingTimeInterval(seconds)
            if interrupted { s.interruption = "aborted" }
            return s
        }
        let members = [
            member("1.9.1", "t1", .stable, at: 0), member("1.9.2", "flair", .stable, interrupted: true, at: 1),
            member("1.9.3", "t1", .stable, at: 5)
        ]
        var waiting = study(.receiving)
        #expect(try waiting.close(at: t0.addingTimeInterval(10), route: Self.studyRoute, series: members) == nil)
        #expect(waiting.state == .receiving)

        var complete = study(.receiving)
        let closing = try #require(
            try complete.close(at: t0.addingTimeInterval(30), route: Self.studyRoute, series: members))
        #expect(complete.state == .queued)
        #expect(closing.series.map(\.seriesInstanceUID).sorted() == ["1.9.2", "1.9.3"])
        #expect(closing.series.allSatisfy { $0.state == .queued })
        #expect(closing.jobs.count == 1)
        let job = try #require(closing.jobs.first)
        #expect(job.id == nil && job.model == "brain" && job.level == .study && job.subjectUID == "1.9")
        #expect(job.inputs == ["t1": ["1.9.3"], "flair": ["1.9.2"]] && job.caveats == members[1].caveats)
        #expect(job.caveats.count == 1)

        var late = study(.receiving)
        let gaveUp = try #require(
            try late.close(at: t0.addingTimeInterval(300), route: Self.studyRoute, series: [members[0]]))
        #expect(late.state == .failed && gaveUp.jobs.isEmpty)
        #expect(
            gaveUp.series.map(\.state) == [.failed] && gaveUp.series.first?.reason == "gave up waiting: missing flair")
    }

    // MARK: - Job

    func job(_ state: JobState, attempts: Int = 1) -> JobRecord {
        var record = JobRecord.queued(
            route: "ct", model: "organs", subject: "1.2.3.1", level: .series, version: 1,
            inputs: ["image": ["1.2.3.1"]], correlationID: "c", at: t0)
        record.id = 17
        record.state = state
        record.attempts = attempts
        return record
    }

    typealias JobEvent = @Sendable (inout JobRecord) throws(LifecycleError) -> Void

    static let jobEvents: [(name: String, apply: JobEvent, to: [JobState: JobState])] = [
        ("claim", { r throws(LifecycleError) in try r.claim(at: Date()) }, [.queued: .processing]),
        ("reach infer", { r throws(LifecycleError) in try r.reach(.infer) }, [.processing: .processing]),
        (
            "complete", { r throws(LifecycleError) in try r.complete(at: Date(), timings: ["infer": 1], note: nil) },
            [.processing: .done]
        ),
        ("fail", { r throws(LifecycleError) in try r.fail(at: Date(), reason: "x") }, [.processing: .failed]),
        (
            "node restarted", { r throws(LifecycleError) in _ = try r.nodeRestarted(at: Date(), maximumAttempts: 3) },
            [.processing: .queued]
        ),
        (
            "lease expired", { r throws(LifecycleError) in _ = try r.leaseExpired(at: Date(), maximumAttempts: 3) },
            [.processing: .queued]
        ),
        (
            "node restarted, attempts spent",
            { r throws(LifecycleError) in
                r.attempts = 3
                _ = try r.nodeRestarted(at: Date(), maximumAttempts: 3)
            }, [.processing: .failed]
        )
    ]

    @Test(arguments: JobState.allCases)
    func everyJobEventFromEveryState(state: JobState) {
        for event in Self.jobEvents {
            var record = job(state)
            do throws(LifecycleError) {
                try event.apply(&record)
                #expect(event.to[state] == record.state, "\(event.name) from \(state) gave \(record.state)")
            } catch {
                #expect(event.to[state] == nil, "\(event.name) from \(state) was refused: \(error)")
                #expect(record.state == state && error.subject == "job 17" && error.state == state.rawValue)
                #expect(error.description.contains("not allowed while \(state.rawValue)"))
            }
        }
    }

    @Test func aJobStartsOverAfterARestartAndCountsItsAttempts() throws {
        var record = job(.queued, attempts: 0)
        try record.claim(at: t0)
        try record.reach(.infer)
        #expect(record.attempts == 1 && record.step == .infer && record.startedAt == t0)
        #expect(try record.nodeRestarted(at: t0, maximumAttempts: 2) == .requeued)
        #expect(record.state == .queued && record.step == .assemble, "starts over at the first step")
        try record.claim(at: t0)
        #expect(try record.nodeRestarted(at: t0, maximumAttempts: 2) == .failed)
        #expect(record.reason == "interrupted 2 times (the node stopped or crashed while processing)")
    }

    @Test func aJobWhoseLeaseExpiredIsTakenOverUnderTheSameAttemptLimit() throws {
        var record = job(.queued, attempts: 0)
        try record.claim(at: t0)
        record.leaseOwner = "node-a"
        record.leaseUntil = t0
        #expect(try record.leaseExpired(at: t0, maximumAttempts: 2) == .requeued)
        #expect(record.state == .queued && record.leaseOwner == nil && record.leaseUntil == nil)
        #expect(record.reason == "interrupted: node-a stopped answering while processing")
        try record.claim(at: t0)
        record.leaseOwner = "node-b"
        #expect(try record.leaseExpired(at: t0, maximumAttempts: 2) == .failed)
        #expect(record.reason == "interrupted 2 times (node-b stopped answering while processing)")
    }

    @Test func siblingOutcomesFollowTheWorstJob() {
        var organs = job(.done), landmarks = job(.processing)
        landmarks.model = "landmarks"
        #expect([organs, landmarks].outcome == nil, "a sibling still running")
        landmarks.state = .failed
        landmarks.reason = "no position"
        organs.reason = "half the slices"
        #expect([organs, landmarks].outcome == .failed(reason: "landmarks: no position"))
        landmarks.state = .done
        landmarks.reason = nil
        #expect([organs, landmarks].outcome == .done(note: "organs: half the slices"))
        #expect([organs].outcome == .done(note: "half the slices"), "one model: no prefix")
    }

    /// JSON columns decode into typed values; a malformed one is an error, not an empty value.
    @Test func malformedJSONColumnsAreErrors() throws {
        let directory = TemporaryDirectory()
        let database = try NodeDatabase(path: directory.file("node.sqlite"))
        try database.writer.write { db in
            var record = job(.queued)
            record.id = nil
            try record.insert(db)
            #expect(try JobRecord.fetchOne(db)?.inputs == ["image": ["1.2.3.1"]])
            try db.execute(sql: "UPDATE job SET inputs = 'not json'")
        }
        let store = NodeStore(database: database, router: Router(routes: []))
        #expect(throws: (any Error).self) { try store.jobs() }
    }
}
