import DICOM
import Foundation
import Logging
import Pipeline
import Results
import Synchronization
import TestSupport
import Testing

@testable import Node

/// An executor that produces a SEG per job (and an SR when asked), or fails with a given reason.
final class FakeExecutor: JobExecutor {
    let failure: String?
    let warnings: [String]
    let withReport: Bool
    init(failure: String? = nil, warnings: [String] = [], withReport: Bool = false) {
        self.failure = failure
        self.warnings = warnings
        self.withReport = withReport
    }
    let steps = Mutex<[JobStep]>([])

    func run(_ job: JobRecord, progress: @escaping @Sendable (JobStep) throws -> Void) async throws -> JobOutput {
        for step in [JobStep.assemble, .infer, .encode] {
            try progress(step)
            steps.withLock { $0.append(step) }
        }
        if let failure { throw JobFailure(failure) }
        let seg = (
            path: "/results/\(job.id!)/seg.dcm", sopInstanceUID: "9.9.\(job.id!)", kind: EncodedObject.Kind.segmentation
        )
        let sr = (path: "/results/\(job.id!)/sr.dcm", sopInstanceUID: "9.8.\(job.id!)", kind: EncodedObject.Kind.report)
        return JobOutput(objects: withReport ? [seg, sr] : [seg], timings: ["infer": 0.5], warnings: warnings)
    }
}

@Suite struct JobRunnerTests {
    let directory = TemporaryDirectory()
    let configuration = try! NodeConfiguration.parse(
        """
        destinations:
          - { name: pacs, ae_title: PACS, host: 127.0.0.1, port: 4242 }
          - { name: archive, ae_title: ARCH, host: 127.0.0.1, port: 4243 }
        models: { organs: /models/organs }
        routes:
          - { name: ct, model: organs, destinations: [pacs, archive], match: [{ tag: Modality, equals: CT }], quiet_time: 1s }
        """)

    func storeWithQueuedJob() throws -> NodeStore {
        let store = NodeStore(
            database: try NodeDatabase(path: directory.file("n.sqlite")),
            router: Router(routes: configuration.routes))
        let t0 = Date()
        let record = InstanceRecord(
            sopInstanceUID: "1.2.3.1.1", sopClassUID: "1.2.840.10008.5.1.4.1.1.2",
            seriesInstanceUID: "1.2.3.1", studyInstanceUID: "1.2.3", path: "/store/1.dcm",
            transferSyntaxUID: "1.2.840.10008.1.2.1", callingAETitle: "CT01", calledAETitle: "MAMBANODE",
            sourceAddress: "127.0.0.1", associationID: "1", receivedAt: t0.addingTimeInterval(-10))
        try store.record(
            InstanceArrival(
                record: record, expectedCount: nil,
                routing: RoutingInput(attributes: [.modality: ["CT"]])), correlationID: "c1")
        #expect(try store.closeStableSeries(now: t0).count == 1)
        return store
    }

    @Test func doneJobEnqueuesEveryObjectForEveryDestination() async throws {
        let store = try storeWithQueuedJob()
        let executor = FakeExecutor()
        let runner = JobRunner(
            store: store, configuration: configuration, executor: executor, logger: Logger(label: "t"))
        #expect(try await runner.runQueued() == 1)
        let job = try #require(try store.jobs().first)
        #expect(job.state == .done && job.step == .finished && job.attempts == 1)
        #expect(try store.series("1.2.3.1")?.state == .done)
        #expect(try store.outbox().map(\.destination).sorted() == ["archive", "pacs"])
        #expect(try store.outbox().allSatisfy { $0.correlationID == "c1" && $0.sopInstanceUID == "9.9.1" })
        #expect(executor.steps.withLock { $0 } == [.assemble, .infer, .encode])
    }

    /// A destination whose `outputs` name only the report gets only the SR; the other gets both.
    @Test func eachDestinationGetsTheOutputsItTakes() async throws {
        let configuration = try NodeConfiguration.parse(
            """
            destinations:
              - { name: pacs, ae_title: PACS, host: 127.0.0.1, port: 4242 }
              - { name: archive, ae_title: ARCH, host: 127.0.0.1, port: 4243, outputs: [sr] }
            models: { organs: /models/organs }
            routes:
              - { name: ct, model: organs, destinations: [pacs, archive], match: [{ tag: Modality, equals: CT }] }
            """)
        let store = try storeWithQueuedJob()
        let runner = JobRunner(
            store: store, configuration: configuration, executor: FakeExecutor(withReport: true),
            logger: Logger(label: "t"))
        try await runner.runQueued()
        let entries = try store.outbox().map { "\($0.destination) \($0.sopInstanceUID)" }.sorted()
        #expect(entries == ["archive 9.8.1", "pacs 9.8.1", "pacs 9.9.1"])
    }

    @Test func doneJobWithWarningsShowsThemAsItsReason() async throws {
        let store = try storeWithQueuedJob()
        let warning = "image: additionalStacks: 2 stacks; assembled the primary"
        let runner = JobRunner(
            store: store, configuration: configuration, executor: FakeExecutor(warnings: [warning, "second"]),
            logger: Logger(label: "t"))
        try await runner.runQueued()
        let job = try #require(try store.jobs().first)
        #expect(job.state == .done && job.reason == warning + "; second")
        #expect(try store.series("1.2.3.1")?.state == .done)
        #expect(try store.series("1.2.3.1")?.reason == warning + "; second")
        #expect(try store.outbox().count == 2, "a warning does not hold the results back")
    }

    @Test func failedJobCarriesItsReasonAndSendsNothing() async throws {
        let store = try storeWithQueuedJob()
        let runner = JobRunner(
            store: store, configuration: configuration,
            executor: FakeExecutor(failure: "series 1.2.3.1: missing slice"), logger: Logger(label: "t"))
        try await runner.runQueued()
        let job = try #require(try store.jobs().first)
        #expect(job.state == .failed && job.reason == "series 1.2.3.1: missing slice")
        #expect(job.step == .encode, "the step reached is kept for diagnosis")
        #expect(try store.series("1.2.3.1")?.state == .failed)
        #expect(try store.outbox().isEmpty)
    }

    @Test func interruptedJobsStartOverThenFailAfterRepeatedCrashes() throws {
        let store = try storeWithQueuedJob()
        for attempt in 1...3 {
            let claimed = try #require(try store.claimNextJob(now: Date()))
            #expect(claimed.attempts == attempt)
            // The process dies here; on restart:
            let outcome = try store.recoverAfterRestart(maximumAttempts: 3, now: Date())
            #expect(outcome == (attempt < 3 ? (1, 0) : (0, 1)))
        }
        let job = try #require(try store.jobs().first)
        #expect(job.state == .failed && job.reason?.contains("interrupted 3 times") == true)
    }

    @Test func jobOfARouteNoLongerConfiguredFailsWithAReason() async throws {
        let store = try storeWithQueuedJob()
        // The node restarted with a configuration that no longer has route "ct".
        let changed = try NodeConfiguration.parse(
            """
            destinations: [{ name: pacs, ae_title: PACS, host: 127.0.0.1, port: 4242 }]
            """)
        let runner = JobRunner(
            store: store, configuration: changed, executor: FakeExecutor(), logger: Logger(label: "t"))
        try await runner.runQueued()
        let job = try #require(try store.jobs().first)
        #expect(job.state == .failed && job.reason == "route 'ct' is no longer configured")
        #expect(try store.outbox().isEmpty)
    }
}
