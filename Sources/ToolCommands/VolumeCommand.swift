import ArgumentParser
import Foundation
import Volume

/// `mambanode volume DIR --nifti OUT.nii.gz [--json]`: assembles one series into a volume and
/// writes it as NIfTI; with `--json`, prints the geometry, stacks and warnings (no patient data).
public struct VolumeCommand: ParsableCommand {
    public init() {}

    public static let configuration = CommandConfiguration(
        commandName: "volume",
        abstract: "Assemble a CT/MR series into a 3D volume and write it as NIfTI."
    )

    @Argument(help: "Folder (searched recursively) or file holding the series.")
    var directory: String

    @Option(help: "Output NIfTI file (.nii or .nii.gz).")
    var nifti: String?

    @Option(help: "Series Instance UID to assemble when the folder holds several series.")
    var series: String?

    @Flag(help: "Print size, spacing, origin, direction, stacks and warnings as JSON.")
    var json = false

    @Flag(help: "Keep DERIVED images (e.g. reformats) in the stacks.") var includeDerived = false
    @Flag(help: "Keep LOCALIZER images in the stacks.") var includeLocalizers = false
    @Flag(help: "Refuse gantry-tilted series instead of resampling them.") var refuseTilt = false
    @Flag(help: "Accept a single-slice series.") var allowSingleSlice = false
    @Option(help: "Largest slice-gap deviation from the median, as a fraction.") var gapTolerance = 0.05

    public func validate() throws {
        if let nifti, !(nifti.hasSuffix(".nii") || nifti.hasSuffix(".nii.gz")) {
            throw ValidationError("--nifti must end in .nii or .nii.gz")
        }
        guard nifti != nil || json else { throw ValidationError("give --nifti OUT.nii.gz, --json, or both") }
        guard gapTolerance > 0, gapTolerance < 0.5 else { throw ValidationError("--gap-tolerance must be in (0, 0.5)") }
    }

    public func run() throws {
        var options = AssemblyOptions()
        options.includeDerived = includeDerived
        options.includeLocalizers = includeLocalizers
        options.tiltPolicy = refuseTilt ? .refuse : .resample
        options.allowSingleSlice = allowSingleSlice
        options.sliceGapTolerance = gapTolerance
        do {
            let found = try Series.scan(directory: directory)
            let chosen = try Self.choose(series, from: found)
            let assembly = try chosen.assemble(options: options)
            if let nifti { try NIfTI.write(assembly.volume, to: nifti) }
            if json {
                print(try VolumeReport(assembly, skipped: chosen.skipped.count).jsonText())
            } else {
                for warning in assembly.warnings { printError("mambanode volume: warning: \(warning)") }
                print("wrote \(assembly.volume.geometry) to \(nifti ?? "-")")
            }
        } catch let error as VolumeError {
            printError("mambanode volume: \(error)")
            throw ExitCode(1)
        }
    }

    static func choose(_ uid: String?, from found: [Series]) throws(VolumeError) -> Series {
        if let uid {
            guard let match = found.first(where: { $0.seriesInstanceUID == uid }) else {
                throw VolumeError(.seriesNotFound, "not among the \(found.count) series found", series: uid)
            }
            return match
        }
        guard found.count == 1 else {
            throw VolumeError(
                found.isEmpty ? .noImages : .ambiguousSeries,
                found.isEmpty
                    ? "no images found"
                    : "\(found.count) series found (\(found.map(\.seriesInstanceUID).joined(separator: ", "))); "
                        + "choose one with --series")
        }
        return found[0]
    }
}

/// The `--json` report: geometry in LPS, the stacks and the warnings.
struct VolumeReport: Encodable {
    var seriesInstanceUID: String
    var size: [Int]
    var spacing: [Double]
    var origin: [Double]
    /// Columns of the direction matrix: i, j and k axes in LPS.
    var direction: [[Double]]
    var sliceCount: Int
    var gantryTiltDegrees: Double
    var stacks: [String]
    var excludedInstances: Int
    var skippedFiles: Int
    var warnings: [String]

    init(_ assembly: Assembly, skipped: Int) {
        let g = assembly.volume.geometry
        seriesInstanceUID = assembly.stacks.seriesInstanceUID
        size = [g.size.x, g.size.y, g.size.z]
        spacing = [g.spacing.x, g.spacing.y, g.spacing.z]
        origin = [g.origin.x, g.origin.y, g.origin.z]
        direction = [g.direction.c0, g.direction.c1, g.direction.c2].map { [$0.x, $0.y, $0.z] }
        sliceCount = assembly.layout.slices.count
        gantryTiltDegrees = assembly.layout.gantryTiltDegrees
        stacks = ([assembly.stacks.primary] + assembly.stacks.others).map(\.summary)
        excludedInstances = assembly.stacks.excluded.count
        skippedFiles = skipped
        warnings = assembly.warnings.map(\.description)
    }

    func jsonText() throws -> String {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.prettyPrinted, .sortedKeys]
        return String(decoding: try encoder.encode(self), as: UTF8.self)
    }
}
