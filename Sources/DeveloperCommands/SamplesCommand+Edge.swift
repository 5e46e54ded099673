import ArgumentParser
import DICOM
import SampleGenerator

extension SamplesCommand {
    struct Edge: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "A small series of one edge case volume assembly must handle, refuse or warn about.",
            discussion: "Cases (and what `mambanode volume` makes of them):\n"
                + EdgeCase.allCases.map { "  \($0.rawValue): \($0.summary) — \($0.expectation)" }.joined(
                    separator: "\n")
        )

        @Argument(help: "Output folder (created when missing).") var output: String
        @Option(help: "The case to write (see below).") var `case`: EdgeCase
        @Option(help: "Random seed for the noise.") var seed: UInt64 = 1
        @Option(help: "Transfer syntax UID to write (default Explicit VR Little Endian).")
        var transferSyntax = TransferSyntax.explicitVRLittleEndian.uid

        func run() throws {
            try runReportingErrors("samples edge") {
                let written = try `case`.write(
                    to: output, seed: seed, transferSyntax: TransferSyntax(uid: transferSyntax))
                let files = written.reduce(0) { $0 + $1.files.count + ($1.localizerFile == nil ? 0 : 1) }
                print(
                    "wrote \(`case`.rawValue) (\(`case`.summary)): \(files) files to \(output) "
                        + "(series \(written[0].seriesInstanceUID)); expected: \(`case`.expectation)")
            }
        }
    }
}

extension EdgeCase: ExpressibleByArgument {}
