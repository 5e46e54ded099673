import Foundation

/// What the benchmarks that compare with a Python reference share: running the reference script,
/// file sizes, timing and the printed figures.
enum BenchReference {
    /// Runs `python` with `arguments` and returns its standard output (the reference prints its
    /// figures as JSON on the last line).
    static func runPython(_ python: String, _ arguments: [String]) throws -> String {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: python)
        process.arguments = arguments
        let pipe = Pipe()
        process.standardOutput = pipe
        try process.run()
        let data = pipe.fileHandleForReading.readDataToEndOfFile()
        process.waitUntilExit()
        return String(decoding: data, as: UTF8.self)
    }

    static func fileSize(_ path: String) throws -> Int {
        (try FileManager.default.attributesOfItem(atPath: path)[.size] as? Int) ?? 0
    }

    static func seconds(since start: ContinuousClock.Instant) -> Double {
        let d = ContinuousClock.now - start
        return Double(d.components.seconds) + Double(d.components.attoseconds) * 1e-18
    }

    static func format(_ value: Double) -> String { String(format: "%.2f", value) }
}
