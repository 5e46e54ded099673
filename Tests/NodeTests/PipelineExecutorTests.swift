import Foundation
import TestSupport
import Testing

@testable import Node

/// What a job says when the stored series holds no image it can assemble: the actual reason
/// and how many instances it applies to, not a hint of store corruption.
@Suite struct PipelineExecutorTests {
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
}
