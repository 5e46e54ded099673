import Foundation

/// Writes a line to standard error (diagnostics stay off standard output, which scripts parse).
public func printError(_ message: String) {
    FileHandle.standardError.write(Data((message + "\n").utf8))
}
