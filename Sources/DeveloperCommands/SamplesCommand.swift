import ArgumentParser
import DICOM
import Foundation
import SampleGenerator
import ToolCommands
import Volume

/// `mambanode samples …`: writes generated sample series with their ground truth (demo,
/// benchmarks, conformance checks, model training, and sites that want to try the node without
/// patient data). Samples/README.md says where each comes from and its licence.
public struct SamplesCommand: ParsableCommand {
    public init() {}

    public static let configuration = CommandConfiguration(
        commandName: "samples",
        abstract: "Write generated sample series (phantoms and real anatomy with exact ground truth).",
        subcommands: [CT.self, MR.self, MRStudy.self, Edge.self]
    )

    struct CT: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "An abdominal CT phantom series, varied per seed, with labels and landmarks.",
            discussion: """
                Labels: 1 liver, 2 spleen, 3 right kidney, 4 left kidney, 5 vertebra (a liver lesion keeps label 1).
                Landmarks (--truth, LPS mm): liver dome, liver tip, spleen superior pole, right kidney centre,
                left kidney centre, vertebral body centre.
                """
        )

        @Argument(help: "Output folder (created when missing).")
        var output: String

        @Option(help: "Number of slices.") var slices = 64
        @Option(help: "Rows and columns of each slice.") var size = 128
        @Option(help: "Slice spacing in mm.") var spacing = 2.5
        @Option(help: "Transfer syntax UID to write (default Explicit VR Little Endian).")
        var transferSyntax = TransferSyntax.explicitVRLittleEndian.uid
        @Option(help: "Random seed: body size, pose, organ sizes, HU values and noise.") var seed: UInt64 = 1
        @Option(help: "A hypodense liver lesion: yes, no or random (decided by the seed; the default).")
        var lesion: LesionChoice?
        @Option(help: "Write the ground-truth label map here (.nii or .nii.gz) on the grid `mambanode volume` makes.")
        var labels: String?
        @Option(help: "Write labels, volumes, landmarks and distances here as JSON.")
        var truth: String?
        @Flag(help: "Write the original fixed phantom (labels 1 liver, 2 spleen, 3 vertebra, 4 lesion) instead.")
        var fixed = false

        enum LesionChoice: String, ExpressibleByArgument, CaseIterable { case yes, no, random }

        func validate() throws {
            guard slices > 0, size >= 8 else { throw ValidationError("--slices must be > 0 and --size ≥ 8") }
            guard spacing > 0 else { throw ValidationError("--spacing must be > 0") }
            try validateNIfTIPath(labels, option: "--labels")
            if fixed, truth != nil || lesion != nil {
                throw ValidationError("--truth and --lesion describe the varied phantom; leave out --fixed")
            }
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
            var abdomen: AbdomenPhantom? = nil
            if !fixed {
                let withLesion =
                    switch lesion ?? .random {
                    case .yes: true
                    case .no: false
                    case .random: AbdomenPhantom.randomLesion(seed: seed)
                    }
                abdomen = AbdomenPhantom(seed: seed, lesion: withLesion)
                generator.phantom = abdomen!.phantom
            }
            try runReportingErrors("samples ct") {
                let written = try generator.write(to: output)
                print(
                    "wrote \(written.files.count) CT slices of \(size)×\(size) to \(output) (series \(written.seriesInstanceUID))"
                )
                guard labels != nil || truth != nil else { return }
                let labelMap = generator.phantom.labelMap(on: try written.assemble().volume.geometry)
                if let labels {
                    try NIfTI.write(labelMap, to: labels, as: .uint8, description: "MambaNode CT phantom labels")
                    print("labels: \(labels)")
                }
                if let truth, let abdomen {
                    try CTGroundTruth(abdomen, labelMap: labelMap).jsonData().write(to: URL(fileURLWithPath: truth))
                    print("truth: \(truth) (lesion: \(abdomen.lesion == nil ? "no" : "yes"))")
                }
            }
        }
    }
}

func validateNIfTIPath(_ path: String?, option: String) throws {
    if let path, !(path.hasSuffix(".nii") || path.hasSuffix(".nii.gz")) {
        throw ValidationError("\(option) must end in .nii or .nii.gz")
    }
}

/// Runs `body`; a generator, volume or DICOM error becomes one line on standard error and exit 1.
func runReportingErrors(_ command: String, _ body: () throws -> Void) throws {
    do {
        try body()
    } catch let error as SampleError {
        printError("mambanode \(command): \(error)")
        throw ExitCode(1)
    } catch let error as VolumeError {
        printError("mambanode \(command): \(error)")
        throw ExitCode(1)
    } catch let error as DICOMError {
        printError("mambanode \(command): \(error)")
        throw ExitCode(1)
    }
}
