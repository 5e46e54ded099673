import Foundation

/// The package's test venv (`Scripts/bootstrap` makes `.venv` with pydicom, highdicom, numpy)
/// and the read-back scripts under `Tests/Scripts/`.
public enum VenvPython {
    /// The package root, found from this file's location.
    public static let packageRoot: String = {
        var url = URL(fileURLWithPath: #filePath)
        for _ in 0..<3 { url.deleteLastPathComponent() } // Tests/TestSupport/VenvPython.swift
        return url.path
    }()

    public static var executable: String { packageRoot + "/.venv/bin/python" }

    public static var isAvailable: Bool { FileManager.default.isExecutableFile(atPath: executable) }

    /// Runs `Tests/Scripts/<script>` with `arguments`; stdout and stderr merged.
    public static func run(script: String, _ arguments: [String]) throws -> ExternalTool.Result {
        try ExternalTool.run(executable, [packageRoot + "/Tests/Scripts/" + script] + arguments)
    }
}
