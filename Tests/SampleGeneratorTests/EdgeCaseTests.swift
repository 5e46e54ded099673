import Foundation
import SampleGenerator
import TestSupport
import Testing
import Volume

/// Every edge case `samples edge` writes is assembled (default options, as `mambanode volume`
/// does) into what its `expectation` and the `--help` text promise.
@Suite struct EdgeCaseTests {
    @Test(arguments: EdgeCase.allCases)
    func assemblyMeetsTheExpectation(_ edge: EdgeCase) throws {
        let dir = TemporaryDirectory("edge-\(edge.rawValue)")
        let written = try edge.write(to: dir.path)
        let found = try Series.scan(directory: dir.path)
        try #require(found.count == 1, "one series, found \(found.count)")
        #expect(found[0].seriesInstanceUID == written[0].seriesInstanceUID)
        // The single-frame files are valid CT/MR Image objects (the enhanced ones are the
        // volume tests' minimal multi-frame encoding and are not checked here).
        if !edge.generator().multiFrame {
            let check = try ExternalTool.run("dciodvfy", [written[0].files[0]])
            let errors = check.output.split(separator: "\n").filter { $0.hasPrefix("Error") }
            #expect(errors.isEmpty, "\(errors)")
        }
        switch edge.expectation {
        case .assembles(let warnings):
            let assembly = try found[0].assemble()
            #expect(Set(assembly.warnings.map(\.code)) == warnings, "\(assembly.warnings)")
            let g = edge.generator()
            // Slices kept: all of one echo, without the localizer. A tilted stack is resampled onto
            // an orthogonal grid that grows along the column direction to hold the sheared slices.
            #expect(assembly.volume.geometry.size.z == g.slices)
            #expect(assembly.volume.geometry.size.x == g.columns)
            #expect(
                edge == .gantryTilt
                    ? assembly.volume.geometry.size.y > g.rows : assembly.volume.geometry.size.y == g.rows)
        case .refused(let code):
            let error = #expect(throws: VolumeError.self) { try found[0].assemble() }
            #expect(error?.code == code)
        }
    }

    @Test func helpListsEveryCase() throws {
        let logs = TemporaryDirectory("edge-help")
        let child = try ChildProcess(BuiltProducts.mambanode, ["samples", "edge", "--help"], logDirectory: logs.path)
        #expect(child.waitBlocking() == 0)
        // The help is wrapped to the terminal width: compare word sequences.
        func words(_ text: String) -> String { text.split(whereSeparator: \.isWhitespace).joined(separator: " ") }
        let help = words(child.standardOutput)
        for edge in EdgeCase.allCases {
            #expect(help.contains(words("\(edge.rawValue): \(edge.summary) — \(edge.expectation)")), "\(edge)")
        }
    }
}
