import ArgumentParser
import DICOM

/// `mambanode dump FILE`: a short header and pixel summary. Patient-identifying attributes are
/// not printed (they are not needed to judge whether a file is usable).
public struct DumpCommand: ParsableCommand {
    public init() {}

    public static let configuration = CommandConfiguration(
        commandName: "dump",
        abstract: "Print a short header and pixel summary of DICOM files (no patient data)."
    )

    @Argument(help: "DICOM files.")
    var files: [String]

    @Flag(help: "Do not decode pixels (header only).")
    var headerOnly = false

    public func run() throws {
        var failed = false
        for file in files {
            do {
                print(try summary(of: file))
            } catch {
                failed = true
                printError("mambanode dump: \(error)")
            }
        }
        if failed { throw ExitCode(1) }
    }

    func summary(of file: String) throws -> String {
        let ds = try DataSet.read(contentsOf: file, headerOnly: headerOnly)
        var lines = ["\(file):"]
        func add(_ label: String, _ value: String?) {
            if let value, !value.isEmpty {
                lines.append("  \(label.padding(toLength: 20, withPad: " ", startingAt: 0)) \(value)")
            }
        }
        add("Transfer Syntax", ds.transferSyntax?.name)
        add("SOP Class", try ds.string(.sopClassUID))
        add("SOP Instance", try ds.string(.sopInstanceUID))
        add("Modality", try ds.string(.modality))
        add("Series", try ds.string(.seriesInstanceUID))
        add("Series Description", try ds.string(.seriesDescription))
        add("Instance Number", try ds.string(.instanceNumber))
        add("Image Position", try ds.string(.imagePositionPatient))
        add("Image Orientation", try ds.string(.imageOrientationPatient))
        add("Pixel Spacing", try ds.string(.pixelSpacing))
        guard ds.contains(.rows) else { return lines.joined(separator: "\n") }
        let info = try ds.pixelInfo()
        add(
            "Image",
            "\(info.rows) rows × \(info.columns) columns × \(info.numberOfFrames) frame(s), "
                + "\(info.samplesPerPixel) sample(s), \(info.photometricInterpretation)")
        add(
            "Bits",
            "allocated \(info.bitsAllocated), stored \(info.bitsStored), high bit \(info.highBit), "
                + (info.isSigned ? "signed" : "unsigned"))
        if !headerOnly, ds.contains(.pixelData) {
            let first = try ds.decodeFrame(0)
            add("Frame 1 values", "min \(first.min() ?? 0), max \(first.max() ?? 0)")
        }
        return lines.joined(separator: "\n")
    }
}
