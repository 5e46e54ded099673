import Foundation
import Pipeline
import TestSupport
import Testing

@testable import Node

@Suite struct PipelineExecutorTests {
    /// What a job says when the stored series holds no image it can assemble: the actual reason
    /// and how many instances it applies to, not a hint of store corruption.
    @Test func aSeriesWithoutImagesSaysWhy() async throws {
        let dir = TemporaryDirectory("no-image")
        var files: [String] = []
        for n in 1...2 {
            let dump = dir.file("object-\(n).txt"), file = dir.file("object-\(n).dcm")
            try """
            (0008,0016) UI =CTImageStorage
            (0008,0018) UI [1.2.826.0.1.3680043.10.543.9.\(n)]
            (0008,0060) CS [CT]
            (0020,000d) UI [1.2.826.0.1.3680043.10.543.9.100]
            (0020,000e) UI [1.2.826.0.1.3680043.10.543.9.101]
            """.write(toFile: dump, atomically: true, encoding: .utf8)
            let made = try await runTool("dump2dcm", [dump, file])
            try #require(made.status == 0, "\(made.errorOutput)")
            files.append(file)
        }
        let reason = PipelineExecutor.whyNoImage(files)
        #expect(reason.contains("not an image (no Rows/Columns) in 2 of 2 instances"), "\(reason)")
        #expect(!reason.contains(dir.path), "the reason names no file: \(reason)")
        #expect(PipelineExecutor.whyNoImage([]) == "no instance of it is in the store")
    }

    /// Inputs shared between the jobs of one series are kept while a job is queued, and dropped
    /// once only the job that just ran is left (queued 0, processing ≤ 1 by the store's counts).
    @Test func sharedInputsAreDroppedOnlyWhenNoOtherJobIsLeft() async throws {
        let fixture = NodeStoreTests()
        let store = try fixture.makeStore()
        let executor = try PipelineExecutor(
            configuration: NodeStoreTests.configuration, store: store,
            encoder: NodeIdentity.encoderConfiguration(aeTitle: "MAMBANODE"))
        _ = try executor.sharedInputs.value(for: "volume", expectedUses: 2) { 1 }
        #expect(executor.sharedInputs.keptCount == 1)

        for n in 0..<3 { try store.record(fixture.instance(n, at: Double(n)), correlationID: "c") }
        #expect(try store.closeStableSeries(now: fixture.t0.addingTimeInterval(100)).count == 1)
        await executor.dropSharedInputsWhenIdle()
        #expect(executor.sharedInputs.keptCount == 1, "a job is queued")

        #expect(try store.claimNextJob(now: fixture.t0.addingTimeInterval(101)) != nil)
        await executor.dropSharedInputsWhenIdle()
        #expect(executor.sharedInputs.keptCount == 0, "only the running job is left")
    }
}
