import ArgumentParser
import DICOM
import Foundation
import SampleGenerator
import Volume

extension SamplesCommand {
    /// Where the MR series' slices lie (shared by `samples mr` and `samples mr-study`).
    struct MRGridOptions: ParsableArguments {
        @Option(help: "Slice plane: axial, sagittal or coronal.") var orientation = SeriesGrid.Orientation.axial
        @Option(help: "Rows and columns of each slice.") var size = 192
        @Option(help: "In-plane pixel spacing in mm.") var pixelSpacing = 1.0
        @Option(help: "Number of slices.") var slices = 144
        @Option(help: "Slice spacing in mm.") var spacing = 1.2
        @Option(help: "Tilt the slice stack by this many degrees about the row direction (oblique).") var rotate = 0.0
        @Option(help: "Random seed: noise (and for mr-study the tumour).") var seed: UInt64 = 1
        @Option(help: "Rician noise σ as a fraction of the peak intensity (1000).") var noise = 0.01
        @Option(help: "Write the ground-truth label map here (.nii or .nii.gz) on the grid `mambanode volume` makes.")
        var labels: String?
        @Option(help: "Write labels, volumes and the source as JSON.") var truth: String?

        func validate() throws {
            guard size >= 8, slices > 0 else { throw ValidationError("--size must be ≥ 8 and --slices > 0") }
            guard pixelSpacing > 0, spacing > 0 else {
                throw ValidationError("--pixel-spacing and --spacing must be > 0")
            }
            guard noise >= 0, noise < 1 else { throw ValidationError("--noise must be in [0, 1)") }
            guard abs(rotate) < 90 else { throw ValidationError("--rotate must be within ±90°") }
            try validateNIfTIPath(labels, option: "--labels")
        }

        func grid(centre: SIMD3<Double>) -> SeriesGrid {
            var grid = SeriesGrid()
            grid.orientation = orientation
            grid.size = size
            grid.pixelSpacing = pixelSpacing
            grid.slices = slices
            grid.sliceSpacing = spacing
            grid.rotationDegrees = rotate
            grid.centre = centre
            return grid
        }

        /// An MR generator on this grid: unsigned 16-bit words, 12 bits stored, no rescale.
        func generator(phantom: Phantom, centre: SIMD3<Double>, sequence: MRSequence) -> SeriesGenerator {
            var g = SeriesGenerator()
            g.modality = .mr
            g.signed = false
            g.bitsStored = 12
            g.rescaleIntercept = 0
            g.rescaleSlope = 1
            g.phantom = phantom
            g.seed = seed
            g.mrSequence = sequence
            g.seriesDescription = sequence.seriesDescription
            g.patientName = "Phantom^Brain"
            g.patientID = "PHANTOM002"
            g.place(on: grid(centre: centre))
            return g
        }
    }

    enum TemplateSource: String, ExpressibleByArgument, CaseIterable { case colin27, mni152 }

    /// Loads `--source` (or, for `samples mr`, `--nifti`).
    static func loadTemplate(_ source: TemplateSource) throws(SampleError) -> BrainTemplate {
        switch source {
        case .colin27: return try BrainTemplate.colin27()
        case .mni152:
            return try BrainTemplate.mni152(path: BrainTemplate.findMNI152(roots: searchRoots()))
        }
    }

    /// The working folder and the folders above the executable (…/.build-x/release/mambanode):
    /// where a checkout's `.venv` is.
    static func searchRoots() -> [String] {
        var roots = [FileManager.default.currentDirectoryPath]
        var url = URL(fileURLWithPath: CommandLine.arguments[0]).resolvingSymlinksInPath().deletingLastPathComponent()
        for _ in 0..<4 {
            url = url.deletingLastPathComponent()
            roots.append(url.path)
        }
        return roots
    }

    struct MR: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "An MR series resampled (trilinear) from a real brain, with its brain mask as labels.",
            discussion: """
                Sources: colin27 (Debian mricron-data: ch2.nii.gz, mask ch2bet.nii.gz > 0), mni152 (nilearn's ICBM 2009a \
                template, found under .venv or $MAMBANODE_MNI152; mask: template > 0.2 × its maximum), or any --nifti \
                image with an optional --mask. Labels: 1 brain (or the AAL atlas with --label-map aal, colin27 only).
                """
        )

        @Argument(help: "Output folder (created when missing).") var output: String
        @Option(help: "A packaged template: colin27 or mni152.") var source: TemplateSource?
        @Option(help: "Any NIfTI image instead of --source.") var nifti: String?
        @Option(help: "With --nifti: a brain mask (any grid; resampled nearest onto the image).") var mask: String?
        @Option(help: "With --mask: voxels above this value are brain.") var maskThreshold = 0.0
        @Option(help: "Labels to write: brain (the mask) or aal (Colin27's AAL atlas, 116 regions).")
        var labelMap = LabelMap.brain
        @Option(help: "MR attributes to write: t1, t1ce, t2 or flair (the image itself is not changed).")
        var sequence = SequenceName.t1
        @OptionGroup var grid: MRGridOptions

        enum LabelMap: String, ExpressibleByArgument, CaseIterable { case brain, aal }

        func validate() throws {
            guard (source == nil) != (nifti == nil) else { throw ValidationError("give either --source or --nifti") }
            if mask != nil, nifti == nil { throw ValidationError("--mask goes with --nifti") }
            if labelMap == .aal, source != .colin27 { throw ValidationError("--label-map aal needs --source colin27") }
            if let nifti { try validateNIfTIPath(nifti, option: "--nifti") }
        }

        func run() throws {
            try runReportingErrors("samples mr") {
                let template: BrainTemplate
                if let source {
                    template = try SamplesCommand.loadTemplate(source)
                } else {
                    template = try BrainTemplate.nifti(image: nifti!, mask: mask, threshold: maskThreshold)
                }
                let labels = try labelMap == .aal ? BrainTemplate.aal() : template.mask
                let phantom = BrainPhantom.t1(template, labels: labels, noise: grid.noise)
                let generator = grid.generator(
                    phantom: phantom, centre: template.brainCentre, sequence: sequence.sequence)
                let written = try generator.write(to: output)
                print(
                    "wrote \(written.files.count) MR slices of \(grid.size)×\(grid.size) from \(template.name) to \(output) "
                        + "(series \(written.seriesInstanceUID))")
                guard grid.labels != nil || grid.truth != nil else { return }
                let labelVolume = phantom.labelMap(on: try written.assemble().volume.geometry)
                if let path = grid.labels {
                    try NIfTI.write(labelVolume, to: path, as: .uint8, description: "MambaNode MR labels")
                    print("labels: \(path)")
                }
                if let path = grid.truth {
                    let regions = Set((labels?.voxels ?? []).map { Int($0.rounded()) }).subtracting([0])
                    let names =
                        labelMap == .aal
                        ? Dictionary(uniqueKeysWithValues: regions.map { ($0, "AAL \($0)") })
                        : [1: "brain"]
                    let rule = labelMap == .aal ? "aal.nii.gz (nearest)" : (template.maskRule ?? "none")
                    let truth = MRGroundTruth(
                        labels: names, labelMap: labelVolume, source: template.name,
                        sourceFile: template.imagePath, labelRule: rule, seed: grid.seed)
                    try truth.jsonData().write(to: URL(fileURLWithPath: path))
                    print("truth: \(path)")
                }
            }
        }
    }

    enum SequenceName: String, ExpressibleByArgument, CaseIterable {
        case t1, t1ce, t2, flair
        var sequence: MRSequence {
            switch self {
            case .t1: .t1
            case .t1ce: .t1ce
            case .t2: .t2
            case .flair: .flair
            }
        }
    }

    struct MRStudy: ParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "mr-study",
            abstract: "A four-sequence MR study (T1, T1CE, T2, FLAIR) of a real brain with a synthetic tumour.",
            discussion: """
                One study and frame of reference; four series in OUT/T1, OUT/T1CE, OUT/T2 and OUT/FLAIR with those \
                Series Descriptions (what Config/node.yaml's brain-tumour route matches its channels on), all on one grid. \
                Labels (BraTS convention): 1 necrotic core, 2 edema, 3 enhancing tumour.
                """
        )

        @Argument(help: "Output folder (one subfolder per series).") var output: String
        @Option(help: "The template: colin27 or mni152.") var source = TemplateSource.colin27
        @OptionGroup var grid: MRGridOptions

        func run() throws {
            try runReportingErrors("samples mr-study") {
                let template = try SamplesCommand.loadTemplate(source)
                let study = try BrainStudy(template: template, seed: grid.seed, noise: grid.noise)
                let uids = try UIDGenerator()
                let (studyUID, frameOfReference) = (uids.make(), uids.make())
                var written: [SeriesGenerator.Written] = []
                for (n, channel) in study.channels.enumerated() {
                    var g = grid.generator(
                        phantom: channel.phantom, centre: template.brainCentre, sequence: channel.sequence)
                    g.studyInstanceUID = studyUID
                    g.frameOfReferenceUID = frameOfReference
                    g.seriesNumber = n + 1
                    g.seed = grid.seed &+ UInt64(n) &* 0x9E37
                    let folder = output + "/" + channel.sequence.seriesDescription
                    written.append(try g.write(to: folder))
                    print("wrote \(channel.sequence.seriesDescription): \(g.slices) slices to \(folder)")
                }
                print("study \(studyUID): \(written.count) series from \(template.name)")
                guard grid.labels != nil || grid.truth != nil else { return }
                // One grid for all four series: the labels are laid on the first one's.
                let labelVolume = study.channels[0].phantom.labelMap(on: try written[0].assemble().volume.geometry)
                if let path = grid.labels {
                    try NIfTI.write(labelVolume, to: path, as: .uint8, description: "MambaNode MR tumour labels")
                    print("labels: \(path)")
                }
                if let path = grid.truth {
                    let folders = Dictionary(
                        uniqueKeysWithValues: study.channels.map {
                            ($0.sequence.seriesDescription, $0.sequence.seriesDescription)
                        })
                    let truth = MRGroundTruth(
                        labels: BrainStudy.labelNames, labelMap: labelVolume, source: template.name,
                        sourceFile: template.imagePath,
                        labelRule: "synthetic tumour: ellipsoid edema, enhancing sphere, necrotic core",
                        seed: grid.seed, series: folders, tumour: study.tumour)
                    try truth.jsonData().write(to: URL(fileURLWithPath: path))
                    print("truth: \(path)")
                }
            }
        }
    }
}

extension SeriesGrid.Orientation: ExpressibleByArgument {}
