import ArgumentParser
import DICOM
import DICOMNetwork

/// `mambanode conformance tables`: the SOP class and transfer syntax tables of the Conformance
/// Statement, printed from what the SCP actually accepts (so the statement can be regenerated
/// and is checked against the code by a test).
public struct ConformanceCommand: ParsableCommand {
    public init() {}

    public static let configuration = CommandConfiguration(
        commandName: "conformance",
        abstract: "Print the Conformance Statement's tables from the running code.",
        subcommands: [Tables.self]
    )

    struct Tables: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Markdown tables of accepted SOP classes and transfer syntaxes.")

        func run() {
            print("| SOP Class | UID | Role |")
            print("|---|---|---|")
            print("| Verification | 1.2.840.10008.1.1 | SCP |")
            for uid in StorageServer.acceptedSOPClasses {
                print("| \(UID.name(of: uid) ?? uid) | \(uid) | SCP |")
            }
            print("")
            print("| Transfer Syntax | UID |")
            print("|---|---|")
            for uid in StorageServer.acceptedTransferSyntaxes {
                print("| \(TransferSyntax(uid: uid).name) | \(uid) |")
            }
        }
    }
}
