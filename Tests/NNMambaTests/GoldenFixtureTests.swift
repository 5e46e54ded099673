import Foundation
import Testing

@testable import DeveloperTools
@testable import NNMamba

/// Every fixture of golden set A (Tests/Fixtures/golden/nnmamba), through the same runner as
/// `mambanode golden`.
@Suite struct GoldenFixtureTests {
    static let fixtures = ["mamba_block", "css_mamba_layer", "res_layer", "seg", "cls"]

    @Test(arguments: fixtures)
    func fixtureMatchesReferenceWithinTolerance(_ name: String) throws {
        let report = try GoldenFixture(directory: goldenRoot + "/" + name).run()
        #expect(report.task.rawValue == name)
        #expect(report.output.engineShape.reduce(1, *) == report.output.referenceShape.reduce(1, *))
        let tolerance = report.task.relativeTolerance * max(1, report.output.maxAbsReference)
        #expect(
            report.output.maxAbsError <= tolerance,
            "\(name): max|err| \(report.output.maxAbsError) > \(tolerance)")
        #expect(!report.intermediates.isEmpty, "\(name): no intermediates compared")
        for stage in report.intermediates {
            #expect(
                stage.passed, "\(name): intermediate \(stage.name) max|err| \(stage.maxAbsError) > \(stage.tolerance)")
        }
        #expect(report.passed)
    }

    @Test func segArgmaxAgreesOnDecisiveVoxels() throws {
        let report = try GoldenFixture(directory: goldenRoot + "/seg").run()
        let argmax = try #require(report.argmax)
        #expect(argmax.considered > 1000)
        #expect(argmax.disagreeing == 0)
    }

    @Test func comparisonFlagsAWrongOutput() {
        let reference = Tensor(shape: [2, 2], values: [1, 2, 3, 4])
        let engine = Tensor(shape: [2, 2], values: [1, 2, 3, 4.01])
        let c = GoldenReport.Comparison(name: "x", engine: engine, reference: reference, relativeTolerance: 1e-4)
        #expect(!c.passed)
        #expect(abs(c.maxAbsError - 0.01) < 1e-6)
    }

    @Test func argmaxTiesGoToTheLowestClass() {
        // Class-major values. Voxel 0: the reference prefers class 1 decisively, the engine ties
        // classes 1 and 2 (must resolve to 1). Voxel 1: the reference ties classes 0 and 1.
        let reference = Tensor(shape: [1, 3, 1, 1, 2], values: [0, 1, 5, 1, 1, 0])
        let engine = Tensor(shape: [1, 3, 1, 1, 2], values: [0, 0, 5, 0, 5, 0])
        let a = ArgmaxAgreement(engine: engine, reference: reference, margin: 1e-3)
        #expect(a.considered == 1)
        #expect(a.disagreeing == 0)
    }

    @Test func configWithBareNaNIsAccepted() throws {
        let data = Data(#"{"a": NaN, "b": "NaN in a string", "c": -Infinity}"#.utf8)
        let fixed = GoldenFixture.replacingNonFiniteLiterals(data)
        let object = try #require(try JSONSerialization.jsonObject(with: fixed) as? [String: Any])
        #expect(object["b"] as? String == "NaN in a string")
        #expect(object["a"] is NSNull)
    }
}
