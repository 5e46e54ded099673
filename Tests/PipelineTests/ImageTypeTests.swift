import Foundation
import TestSupport
import Testing

/// A model runs on the Image Types it accepts (model.json `accepted_image_types`, ORIGINAL only
/// by default): a DERIVED series is refused with a reason naming the Image Type and the model,
/// and processed once the model accepts DERIVED.
@Suite struct ImageTypeTests {
    @Test func derivedSeriesIsRefusedUnlessTheModelAcceptsIt() async throws {
        let dir = TemporaryDirectory("image-type")
        let make = try await runTool(
            BuiltProducts.mambanode, ["samples", "ct", dir.file("ct"), "--slices", "8", "--size", "32"])
        try #require(make.status == 0, "\(make.errorOutput)")
        let files = try FileManager.default.contentsOfDirectory(atPath: dir.file("ct")).map { dir.file("ct/\($0)") }
        let modify = try ExternalTool.run("dcmodify", ["-nb", "-m", "(0008,0008)=DERIVED\\SECONDARY\\AXIAL"] + files)
        try #require(modify.status == 0, "\(modify.output)")
        let model = dir.file("model")
        let create = try await runTool(
            BuiltProducts.mambanode, ["models", "create-untrained", model, "--spacing", "6", "--patch", "32"])
        try #require(create.status == 0, "\(create.errorOutput)")

        let refused = try await runTool(
            BuiltProducts.mambanode, ["process", "--model", model, "--input", dir.file("ct"), "--output", dir.file("a")]
        )
        #expect(refused.status != 0)
        #expect(
            refused.errorOutput.contains("Image Type DERIVED\\SECONDARY\\AXIAL on 8 of 8 instances")
                && refused.errorOutput.contains("runs on ORIGINAL images only"), "\(refused.errorOutput)")

        let manifestPath = model + "/model.json"
        var manifest = try #require(
            try JSONSerialization.jsonObject(with: Data(contentsOf: URL(fileURLWithPath: manifestPath)))
                as? [String: Any])
        manifest["accepted_image_types"] = ["ORIGINAL", "DERIVED"]
        try JSONSerialization.data(withJSONObject: manifest).write(to: URL(fileURLWithPath: manifestPath))
        let accepted = try await runTool(
            BuiltProducts.mambanode, ["process", "--model", model, "--input", dir.file("ct"), "--output", dir.file("b")]
        )
        #expect(accepted.status == 0, "\(accepted.errorOutput)")
    }
}
