import ArgumentParser
import DICOM
import SampleGenerator

/// `mambanode samples ct DIR`: writes a generated CT phantom series (demo, benchmarks, and sites
/// that want to try the node without patient data).
struct SamplesCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "samples",
        abstract: "Write generated sample series (phantoms with exact ground truth).",
        subcommands: [CT.self]
    )

    struct CT: ParsableCommand {
        static let configuration = CommandConfiguration(abstract: "An abdominal CT phantom series.")

        @Argument(help: "Output folder (created when missing).")
        var output: String

        @Option(help: "Number of slices.") var slices = 64
        @Option(help: "Rows and columns of each slice.") var size = 128
        @Option(help: "Slice spacing in mm.") var spacing = 2.5
        @Option(help: "Transfer syntax UID to write (default Explicit VR Little Endian).")
        var transferSyntax = TransferSyntax.explicitVRLittleEndian.uid
        @Option(help: "Random seed for the noise.") var seed: UInt64 = 1

        func validate() throws {
            guard slices > 0, size >= 8 else { throw ValidationError("--slices must be > 0 and --size ≥ 8") }
            guard spacing > 0 else { throw ValidationError("--spacing must be > 0") }
        }

        func run() throws {
            var generator = SeriesGenerator()
            generator.rows = size
            generator.columns = size
            generator.slices = slices
            generator.sliceSpacing = spacing
            generator.pixelSpacing = (320.0 / Double(size), 320.0 / Double(size))
            generator.transferSyntax = TransferSyntax(uid: transferSyntax)
            generator.seed = seed
            let written = try generator.write(to: output)
            print("wrote \(written.files.count) CT slices of \(size)×\(size) to \(output) (series \(written.seriesInstanceUID))")
        }
    }
}
