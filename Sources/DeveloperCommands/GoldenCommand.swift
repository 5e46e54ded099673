import ArgumentParser
import DeveloperTools
import Foundation
import NNMamba

/// `mambanode golden DIR…`: runs golden fixture folders through the engine and compares.
public struct GoldenCommand: ParsableCommand {
    public init() {}

    public static let configuration = CommandConfiguration(
        commandName: "golden",
        abstract: "Run nnMamba golden fixture folders and compare with the PyTorch reference.",
        discussion: "Exits non-zero when any fixture is over the tolerance of Tests/Fixtures/golden/nnmamba/README.md."
    )

    @Argument(help: "Fixture folders (each with config.json, weights/input/output safetensors).")
    var directories: [String]

    @Option(help: "Threads for the engine and OpenBLAS (default: all cores).")
    var threads: Int?

    public func validate() throws {
        if let threads, threads < 1 { throw ValidationError("--threads must be ≥ 1") }
    }

    public func run() throws {
        if let threads { Parallel.setThreadCount(threads) }
        var failed = false
        for directory in directories {
            do {
                let report = try GoldenFixture(directory: directory).run()
                print(Self.describe(report, directory: directory))
                failed = failed || !report.passed
            } catch let error as NNMambaError {
                print("\(directory): ERROR \(error)")
                failed = true
            }
        }
        if failed { throw ExitCode(1) }
    }

    static func describe(_ r: GoldenReport, directory: String) -> String {
        func fmt(_ x: Float) -> String { x.isFinite ? String(format: "%.3e", Double(x)) : "inf" }
        var lines = [
            "\(directory) [\(r.task.rawValue)]: \(r.passed ? "PASS" : "FAIL")",
            "  output \(r.output.engineShape): max|err| \(fmt(r.output.maxAbsError)), "
                + "max|ref| \(fmt(r.output.maxAbsReference)), relative \(fmt(r.output.relativeError)), "
                + "tolerance \(fmt(r.output.tolerance))"
        ]
        for s in r.intermediates {
            lines.append(
                "  \(s.passed ? "ok  " : "OVER") \(s.name) \(s.engineShape): max|err| "
                    + "\(fmt(s.maxAbsError)) (relative \(fmt(s.relativeError)), tolerance \(fmt(s.tolerance)))")
        }
        if let first = r.firstDivergence { lines.append("  first diverging stage: \(first.name)") }
        if let a = r.argmax {
            lines.append("  argmax: \(a.considered - a.disagreeing)/\(a.considered) decisive voxels agree")
        }
        return lines.joined(separator: "\n")
    }
}

#if canImport(Glibc)
    import Glibc
#endif
