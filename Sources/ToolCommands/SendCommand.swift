import ArgumentParser
import DICOM
import DICOMNetwork
import Foundation

/// `mambanode send`: C-STORE files and folders (recursively) to a peer. Exits non-zero when any
/// instance was not stored, naming each one with its status or reason. Files that are not DICOM
/// are skipped with a warning.
public struct SendCommand: AsyncParsableCommand {
    public init() {}

    public static let configuration = CommandConfiguration(
        commandName: "send",
        abstract: "Send DICOM files (C-STORE) to a peer."
    )

    @Option(help: "The peer, as AE@HOST:PORT.")
    var to: String

    @Option(help: "Our (calling) AE title.")
    var aet: String = "MAMBANODE"

    @Option(help: "Send compressed instances decompressed when the peer refuses their syntax: never, lossless, all.")
    var decompress: String = "lossless"

    @Argument(help: "Files or folders (searched recursively).")
    var paths: [String]

    public func validate() throws {
        _ = try Destination(parsing: to)
        _ = try AETitle(aet)
        guard ["never", "lossless", "all"].contains(decompress) else {
            throw ValidationError("--decompress must be never, lossless or all")
        }
        for path in paths where !FileManager.default.fileExists(atPath: path) {
            throw ValidationError("no such file or folder: \(path)")
        }
    }

    public func run() async throws {
        let destination = try Destination(parsing: to)
        var configuration = StorageClientConfiguration(callingAETitle: try AETitle(aet))
        configuration.decompression = decompress == "never" ? .never : decompress == "all" ? .all : .lossless
        let files = Self.files(in: paths)
        let outcomes = await StorageClient(configuration: configuration).send(files, to: destination)
        var stored = 0, failed = 0, skipped = 0
        for outcome in outcomes {
            if outcome.isStored {
                stored += 1
            } else if outcome.error?.code == .notDICOM {
                skipped += 1
                ReceiveCommand.write("skipped (not DICOM): \(outcome.path)\n", to: .standardError)
            } else {
                failed += 1
                let what = outcome.status.map { "status \($0)" } ?? (outcome.error?.message ?? "not sent")
                ReceiveCommand.write(
                    "failed: \(outcome.path) instance \(outcome.sopInstanceUID ?? "?"): \(what)\n",
                    to: .standardError)
            }
        }
        ReceiveCommand.write(
            "sent \(stored) of \(stored + failed) instances to \(destination)"
                + (skipped > 0 ? ", skipped \(skipped) non-DICOM files" : "") + "\n", to: .standardOutput)
        if failed > 0 { throw ExitCode(1) }
    }

    /// Regular files named or found under the folders, in a stable order.
    static func files(in paths: [String]) -> [String] {
        var files: [String] = []
        for path in paths {
            var isDirectory: ObjCBool = false
            guard FileManager.default.fileExists(atPath: path, isDirectory: &isDirectory) else { continue }
            guard isDirectory.boolValue else {
                files.append(path)
                continue
            }
            let enumerator = FileManager.default.enumerator(atPath: path)
            var found: [String] = []
            while let relative = enumerator?.nextObject() as? String {
                let full = path + "/" + relative
                var sub: ObjCBool = false
                if FileManager.default.fileExists(atPath: full, isDirectory: &sub), !sub.boolValue {
                    found.append(full)
                }
            }
            files += found.sorted()
        }
        return files
    }
}
