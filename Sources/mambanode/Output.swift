import Foundation

/// Writes a line to standard error (diagnostics stay off standard output, which scripts parse).
func printError(_ message: String) {
    FileHandle.standardError.write(Data((message + "\n").utf8))
}
