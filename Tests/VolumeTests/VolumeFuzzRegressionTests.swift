import Foundation
import Testing

@testable import VolumeFuzz

/// The inputs `Scripts/fuzz volume` found (Tests/Fixtures/fuzz/volume/), replayed through the
/// fuzz target's own code on every test run: metadata extraction, stacking, assembly and
/// reorientation of each must end in a volume or a typed error, never a crash.
@Suite struct VolumeFuzzRegressionTests {
    static let folder = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
        .appendingPathComponent("Fixtures/fuzz/volume").path

    static var inputs: [String] {
        ((try? FileManager.default.contentsOfDirectory(atPath: folder)) ?? []).sorted()
    }

    @Test func everyInputIsReadOrRefusedWithoutCrashing() throws {
        #expect(!Self.inputs.isEmpty)
        let scratch = NSTemporaryDirectory() + "/volume-fuzz-replay-\(getpid())"
        defer { try? FileManager.default.removeItem(atPath: scratch) }
        for name in Self.inputs {
            let data = try #require(FileManager.default.contents(atPath: Self.folder + "/" + name))
            VolumeFuzzTarget.run(Array(data), folder: scratch)
        }
    }

    /// The separator splits an input into files, and a separator-free input is one file.
    @Test func inputsSplitIntoFilesAtTheSeparator() {
        let parts = VolumeFuzzTarget.files(in: Array("ab".utf8) + VolumeFuzzTarget.separator + Array("cd".utf8))
        #expect(parts.map { String(decoding: $0, as: UTF8.self) } == ["ab", "cd"])
        #expect(VolumeFuzzTarget.files(in: Array("abc".utf8)).count == 1)
        let many = (0..<40).flatMap { _ in Array("x".utf8) + VolumeFuzzTarget.separator }
        #expect(VolumeFuzzTarget.files(in: many).count == VolumeFuzzTarget.maximumFiles)
    }
}
