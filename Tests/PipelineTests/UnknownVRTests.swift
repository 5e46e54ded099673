import DICOM
import Foundation
import TestSupport
import Testing
import Volume

/// A series whose elements arrive as explicit VR UN (an archive that did not know them re-encoded
/// them so; PS3.5 6.2.2) is read with the dictionary's VRs: the same instances, the same volume and,
/// through `mambanode process`, the same result as the original.
@Suite struct UnknownVRTests {
    @Test func explicitUNSeriesIsReadAsTheOriginal() async throws {
        let dir = TemporaryDirectory("un")
        var generator = SeriesGenerator()
        (generator.rows, generator.columns, generator.slices) = (40, 48, 12)
        generator.pixelSpacing = (row: 5, column: 5)
        generator.sliceSpacing = 6
        generator.phantom = .abdomenCT(size: 200)
        try generator.write(to: dir.file("original"))
        let encode = try VenvPython.run(script: "un_encode.py", [dir.file("original"), dir.file("un")])
        try #require(encode.status == 0, "\(encode.output)")
        // The files really carry UN: Modality (0008,0060) is written with VR UN (explicit VR LE).
        let first = try #require(try FileManager.default.contentsOfDirectory(atPath: dir.file("un")).sorted().first)
        let raw = try Data(contentsOf: URL(fileURLWithPath: dir.file("un/\(first)")))
        #expect(raw.range(of: Data([0x08, 0x00, 0x60, 0x00, 0x55, 0x4E])) != nil, "Modality is not stored as UN")

        let original = try #require(try Series.scan(directory: dir.file("original")).first)
        let un = try #require(try Series.scan(directory: dir.file("un")).first)
        #expect(un.instances.count == original.instances.count)
        #expect(un.instances.first?.modality == "CT")
        let a = try original.assemble().volume, b = try un.assemble().volume
        #expect(a.geometry == b.geometry)
        #expect(a.voxels == b.voxels)

        let model = dir.file("model")
        let create = try await runTool(
            BuiltProducts.mambanode, ["models", "create-untrained", model, "--spacing", "6", "--patch", "32"])
        try #require(create.status == 0, "\(create.errorOutput)")
        var printed: [[String]] = []
        for name in ["original", "un"] {
            let run = try await runTool(
                BuiltProducts.mambanode,
                ["process", "--model", model, "--input", dir.file(name), "--output", dir.file("out-\(name)")])
            try #require(run.status == 0, "\(run.errorOutput)")
            printed.append(run.output.split(separator: "\n").map(String.init).filter { $0.contains("segment ") })
        }
        #expect(!printed[0].isEmpty && printed[0] == printed[1], "\(printed)")
    }
}
