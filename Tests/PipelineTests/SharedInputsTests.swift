import DICOM
import Dispatch
import Foundation
import ModelPackage
import Synchronization
import TestSupport
import Testing
import Volume

@testable import Pipeline

@Suite struct SharedInputsTests {
    struct Failure: Error {}

    @Test func aCallerThatComesWhileTheValueIsMadeWaitsForIt() throws {
        let shared = SharedInputs()
        let makes = Atomic<Int>(0)
        let results = Mutex<[Int]>([])
        let group = DispatchGroup()
        for _ in 0..<2 {
            DispatchQueue.global().async(group: group) {
                let v = try? shared.value(for: "k", expectedUses: 1) { () -> Int in
                    makes.add(1, ordering: .relaxed)
                    // Finish only once the other caller waits (or after 10 s, when the test fails).
                    let deadline = Date().addingTimeInterval(10)
                    while shared.waitingCount(for: "k") == 0 && Date() < deadline {
                        Thread.sleep(forTimeInterval: 0.001)
                    }
                    return 42
                }
                results.withLock { $0.append(v ?? -1) }
            }
        }
        group.wait()
        #expect(results.withLock { $0 } == [42, 42])
        #expect(makes.load(ordering: .relaxed) == 1)
        // One use was expected, and the waiting caller took it: nothing is kept.
        #expect(shared.keptCount == 0)
    }

    @Test func aValueIsKeptForTheExpectedUsesThenDropped() throws {
        let shared = SharedInputs()
        var makes = 0
        for _ in 0..<3 {
            #expect(
                try shared.value(for: "k", expectedUses: 3) {
                    makes += 1
                    return "v"
                } == "v")
        }
        #expect(makes == 1)
        #expect(shared.keptCount == 0)
        _ = try shared.value(for: "k", expectedUses: 1) {
            makes += 1
            return "v"
        }
        #expect(makes == 2)
        #expect(shared.keptCount == 0)
    }

    @Test func aFailedMakeLeavesTheKeyToTheNextCaller() throws {
        let shared = SharedInputs()
        #expect(throws: Failure.self) {
            try shared.value(for: "k", expectedUses: 2) { () throws -> Int in throw Failure() }
        }
        #expect(try shared.value(for: "k", expectedUses: 2) { 7 } == 7)
        #expect(shared.keptCount == 1)
    }

    @Test func theOldestValueGoesBeyondTheCapacity() throws {
        let shared = SharedInputs(capacity: 2)
        for key in ["a", "b", "c"] { _ = try shared.value(for: key, expectedUses: 2) { key } }
        #expect(shared.keptCount == 2)
        var remade: [String] = []
        for key in ["a", "b", "c"] {
            _ = try shared.value(for: key, expectedUses: 1) {
                remade.append(key)
                return key
            }
        }
        #expect(remade == ["a"])
        shared.removeAll()
        #expect(shared.keptCount == 0)
    }

    /// A small axial abdomen CT (36 slices of 112 × 120 at 1.6 × 1.6 × 2.5 mm), scanned.
    static func abdomenCT(in dir: TemporaryDirectory) throws -> Series {
        var g = SeriesGenerator()
        (g.rows, g.columns, g.slices) = (112, 120, 36)
        g.pixelSpacing = (row: 1.6, column: 1.6)
        g.sliceSpacing = 2.5
        g.phantom = .abdomenCT(size: 170)
        try g.write(to: dir.file("ct"))
        return try #require(try Series.scan(directory: dir.file("ct")).first)
    }

    static let samples =
        URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
        .deletingLastPathComponent().path + "/Samples/models"

    /// The sample ct-organs and ct-landmarks resample to the same 3 mm grid with the same CT
    /// window; ct-classify works at 4 mm. On one CT, the first two share one assembly and one
    /// normalised input and get exactly what they get on their own; ct-classify makes its own.
    @Test func modelsOnOneSeriesShareWhatTheirPreprocessingAgreesOn() throws {
        let dir = TemporaryDirectory("shared-inputs")
        let series = try Self.abdomenCT(in: dir)
        let volume = try series.assemble().volume
        let pipelines = try ["ct-organs", "ct-landmarks", "ct-classify"].map {
            try InferencePipeline(package: ModelPackage(directory: Self.samples + "/" + $0))
        }
        #expect(pipelines[0].preprocessingKey == pipelines[1].preprocessingKey)
        #expect(pipelines[0].preprocessingKey != pipelines[2].preprocessingKey)

        let shared = SharedInputs()
        let prepared = try pipelines.map { try $0.prepare([volume], sharing: shared, inputKey: "ct", expectedUses: 3) }
        let alone = try pipelines.map { try $0.prepare([volume]) }
        for (a, b) in zip(prepared, alone) {
            #expect(a.record == b.record)
            #expect(a.tensor.shape == b.tensor.shape)
            #expect(a.tensor.maxAbsDifference(b.tensor) == 0)
        }
        // Different patch sizes: each pads the shared tensor to its own network's size.
        #expect(prepared[0].tensor.shape != prepared[1].tensor.shape)
        // ct-landmarks took the tensor ct-organs made (no resampling of its own); ct-classify
        // resampled for itself.
        #expect(prepared[0].timings.contains { $0.step == .resampling })
        #expect(!prepared[1].timings.contains { $0.step == .resampling })
        #expect(prepared[2].timings.contains { $0.step == .resampling })
    }

    @Test func producersShareTheAssemblyAndGiveTheirOwnResults() throws {
        let dir = TemporaryDirectory("shared-producers")
        let series = try Self.abdomenCT(in: dir)
        let configuration = try NodeIdentity.encoderConfiguration(aeTitle: "MAMBANODE")
        let producer = try ResultProducer(
            package: ModelPackage(directory: Self.samples + "/ct-landmarks"), encoder: configuration,
            uids: UIDGenerator())
        let shared = SharedInputs()
        let first = try producer.produce(
            [series], version: 1, into: dir.file("a"), sharing: shared, expectedUses: 2)
        // The assembly and the normalised input wait for the second job.
        #expect(shared.keptCount == 2)
        let second = try producer.produce(
            [series], version: 1, into: dir.file("b"), sharing: shared, expectedUses: 2)
        #expect(shared.keptCount == 0)
        let alone = try producer.produce([series], version: 1, into: dir.file("c"))
        guard case .landmarks(let a) = first.outcome, case .landmarks(let b) = second.outcome,
            case .landmarks(let c) = alone.outcome
        else {
            Issue.record("not landmarks")
            return
        }
        #expect(a == c && b == c)
        #expect(first.record == alone.record && second.record == alone.record)
    }
}
