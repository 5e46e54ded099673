import Foundation

/// Runs a command-line tool (DCMTK, GDCM, dicom3tools) and captures its output.
public enum ExternalTool {
    public struct Result: Sendable {
        public var status: Int32
        public var output: String

        public init(status: Int32, output: String) {
            self.status = status
            self.output = output
        }
    }

    /// Runs `tool` (looked up on PATH) with `arguments`; stdout and stderr are merged. A tool
    /// that is not installed skips the running test (``MissingTool``).
    @discardableResult
    public static func run(_ tool: String, _ arguments: [String], environment: [String: String] = [:]) throws -> Result
    {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: try MissingTool.path(of: tool))
        process.arguments = arguments
        var env = ProcessInfo.processInfo.environment
        env.merge(environment) { _, new in new }
        process.environment = env
        let pipe = Pipe()
        process.standardOutput = pipe
        process.standardError = pipe
        try process.run()
        let data = pipe.fileHandleForReading.readDataToEndOfFile()
        process.waitUntilExit()
        return Result(status: process.terminationStatus, output: String(decoding: data, as: UTF8.self))
    }

    /// Runs the tool and throws when it exits non-zero, with its output in the error.
    @discardableResult
    public static func check(_ tool: String, _ arguments: [String]) throws -> String {
        let result = try run(tool, arguments)
        guard result.status == 0 else { throw Failure(tool: tool, arguments: arguments, result: result) }
        return result.output
    }

    public struct Failure: Error, CustomStringConvertible {
        public var tool: String
        public var arguments: [String]
        public var result: Result

        public init(tool: String, arguments: [String], result: Result) {
            self.tool = tool
            self.arguments = arguments
            self.result = result
        }

        public var description: String {
            "\(tool) \(arguments.joined(separator: " ")) exited \(result.status): \(result.output)"
        }
    }
}
