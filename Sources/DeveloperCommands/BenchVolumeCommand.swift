import ArgumentParser
import Foundation
import SampleGenerator
import Volume

/// `mambanode bench volume`: assembles a generated CT (default 300 slices of 512×512) and writes
/// it as NIfTI, against `dcm2niix` on the same files in the same run; prints both and the ratio.
public struct BenchVolumeCommand: ParsableCommand {
    public init() {}

    public static let configuration = CommandConfiguration(
        commandName: "volume",
        abstract: "Time volume assembly + NIfTI write against dcm2niix on a generated CT."
    )

    @Option(help: "Slices of the generated CT.") var slices = 300
    @Option(help: "Rows and columns of each slice.") var size = 512
    @Option(help: "Timed runs of each tool (the best is reported).") var runs = 3
    @Option(help: "Use this folder of DICOM files instead of generating one.") var input: String?

    public func run() throws {
        let work = FileManager.default.temporaryDirectory.appendingPathComponent("mambanode-bench-volume-\(getpid())")
            .path
        try FileManager.default.createDirectory(atPath: work, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: work) }
        let folder: String
        if let input {
            folder = input
        } else {
            folder = work + "/dicom"
            var generator = SeriesGenerator()
            generator.rows = size
            generator.columns = size
            generator.slices = slices
            generator.pixelSpacing = (0.7, 0.7)
            generator.sliceSpacing = 1
            generator.rescaleIntercept = -1024
            generator.phantom = .abdomenCT(size: 350)
            let start = Date()
            try generator.write(to: folder)
            print(
                "generated \(slices) × \(size)×\(size) CT in \(String(format: "%.1f", Date().timeIntervalSince(start))) s"
            )
        }
        var ours: [Double] = [], headers: [Double] = [], pixels: [Double] = [], theirs: [Double] = []
        for run in 0..<runs {
            // Ours: scan headers (parallel), assemble (parallel decode), write an uncompressed .nii.
            // Each tool starts with no dirty pages left by the other (writeback would bill it).
            sync()
            let start = Date()
            let found = try Series.scan(directory: folder)
            let scanned = Date()
            guard found.count == 1 else { throw ValidationError("expected one series, found \(found.count)") }
            let assembly = try found[0].assemble()
            let assembled = Date()
            try NIfTI.write(assembly.volume, to: work + "/ours-\(run).nii")
            ours.append(Date().timeIntervalSince(start))
            headers.append(scanned.timeIntervalSince(start))
            pixels.append(assembled.timeIntervalSince(scanned))

            let out = work + "/d2n-\(run)"
            try FileManager.default.createDirectory(atPath: out, withIntermediateDirectories: true)
            let process = Process()
            process.executableURL = URL(fileURLWithPath: "/usr/bin/env")
            process.arguments = ["dcm2niix", "-z", "n", "-b", "n", "-f", "d2n", "-o", out, folder]
            process.standardOutput = FileHandle.nullDevice
            process.standardError = FileHandle.nullDevice
            sync()
            let d2nStart = Date()
            try process.run()
            process.waitUntilExit()
            theirs.append(Date().timeIntervalSince(d2nStart))
            guard process.terminationStatus == 0 else {
                throw ValidationError("dcm2niix exited \(process.terminationStatus)")
            }
        }
        let best = (ours.min()!, theirs.min()!, headers.min()!)
        print(
            String(
                format: "mambanode volume: %.3f s (headers %.3f s, pixels %.3f s, NIfTI write the rest) — best of %d",
                best.0, best.2, pixels.min()!, runs))
        print(String(format: "dcm2niix:         %.3f s — best of %d", best.1, runs))
        print(String(format: "ratio:            %.2f× dcm2niix's time (goal ≤ 1.0×)", best.0 / best.1))
    }
}
