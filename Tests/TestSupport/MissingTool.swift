import Foundation
import Testing

/// A test that needs an external program Scripts/bootstrap installs (DCMTK's tools, dicom3tools,
/// dcm2niix, openssl, the Python venv) is skipped, naming the program, where the program is
/// missing, instead of failing with the shell's "status 127". A program that is present and
/// fails still fails the test.
public enum MissingTool {
    /// The absolute path of `executable` (looked up on PATH unless it contains a slash); when it
    /// is missing, the running test is skipped with the program's name.
    public static func path(of executable: String) throws -> String {
        if let found = lookUp(executable) { return found }
        try Test.cancel("skipped: '\(executable)' is not installed (Scripts/bootstrap installs it)")
    }

    /// The absolute path of `executable`, or nil when it is not on PATH (or not executable).
    public static func lookUp(_ executable: String) -> String? {
        if executable.contains("/") {
            return FileManager.default.isExecutableFile(atPath: executable) ? executable : nil
        }
        for dir in (ProcessInfo.processInfo.environment["PATH"] ?? "/usr/bin:/bin").split(separator: ":") {
            let candidate = "\(dir)/\(executable)"
            if FileManager.default.isExecutableFile(atPath: candidate) { return candidate }
        }
        return nil
    }
}
