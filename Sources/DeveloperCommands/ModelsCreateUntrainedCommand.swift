import ArgumentParser
import DeveloperTools
import Foundation
import ModelPackage
import NNMamba

/// `mambanode models create-untrained DIR`: a complete model package with seeded random weights,
/// for checking a site's plumbing (routing, SEG/SR in the PACS) before a trained model is
/// installed. Its outputs are meaningless, and its model card and algorithm name say so.
public struct ModelsCreateUntrainedCommand: ParsableCommand {
    public init() {}

    public static let configuration = CommandConfiguration(
        commandName: "create-untrained",
        abstract: "Write a segmentation model package with random weights (for plumbing tests only).",
        discussion: """
            CT (default): one input, CT normalisation, labels Liver, Spleen, Vertebra, Lesion. \
            --modality MR: z-score normalisation per input; one input gives the label Brain \
            (`samples mr`), several (--inputs t1,t1ce,t2,flair) the BraTS labels necrotic core, \
            edema and enhancing tumour (`samples mr-study`), for a study-level route whose \
            channels are named after the inputs.
            """
    )

    @Argument(help: "Package folder to create.") var directory: String
    @Option(help: "Base width of the network (≥ 16).") var channels = 16
    @Option(help: "Residual blocks per stage (≥ 2: the Mamba layer sits in blocks 1…).") var blocks = 2
    @Option(help: "Target spacing in mm (isotropic).") var spacing = 4.0
    @Option(help: "Sliding-window patch edge (multiple of 16).") var patch = 64
    @Option(help: "Random seed.") var seed: UInt64 = 1
    @Option(help: "Modality of the inputs: CT or MR.") var modality = "CT"
    @Option(
        help:
            "Comma-separated input (channel) names, e.g. t1,t1ce,t2,flair (default: one input named after the modality)."
    )
    var inputs: String?

    var inputNames: [String] {
        inputs.map { $0.split(separator: ",").map { $0.trimmingCharacters(in: .whitespaces) } } ?? [
            modality.lowercased()
        ]
    }

    public func validate() throws {
        guard channels >= 16 else { throw ValidationError("--channels must be at least 16") }
        guard blocks >= 2 else { throw ValidationError("--blocks must be at least 2") }
        guard patch >= 16, patch % 16 == 0 else { throw ValidationError("--patch must be a multiple of 16") }
        guard spacing > 0 else { throw ValidationError("--spacing must be positive") }
        guard ["CT", "MR"].contains(modality) else { throw ValidationError("--modality must be CT or MR") }
        let names = inputNames
        guard !names.isEmpty, !names.contains(""), Set(names).count == names.count else {
            throw ValidationError("--inputs must be distinct non-empty names separated by commas")
        }
        guard modality == "MR" || names.count == 1 else { throw ValidationError("a CT package has one input") }
    }

    /// The phantom's structures (Samples/Generator), with SNOMED CT codes as a real model would carry.
    static let labels: [(String, String, String, [Int])] = [
        ("Liver", "10200004", "Liver", [221, 130, 101]),
        ("Spleen", "78961009", "Spleen", [157, 108, 162]),
        ("Vertebra", "51282000", "Bone structure of spine", [241, 214, 145]),
        ("Lesion", "52988006", "Lesion", [255, 0, 0])
    ]
    /// `samples mr`: the brain mask.
    static let brainLabels: [(String, String, String, [Int])] = [("Brain", "12738006", "Brain", [250, 250, 225])]
    /// `samples mr-study`: BraTS tumour sub-regions, named as its ground truth names them.
    static let tumourLabels: [(String, String, String, [Int])] = [
        ("Necrotic core", "6574001", "Necrosis", [255, 255, 0]),
        ("Edema", "79654002", "Edema", [0, 255, 0]),
        ("Enhancing tumour", "108369006", "Neoplasm", [255, 0, 0])
    ]

    var chosenLabels: [(String, String, String, [Int])] {
        modality == "CT" ? Self.labels : inputNames.count == 1 ? Self.brainLabels : Self.tumourLabels
    }

    public func run() throws {
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        let labels = chosenLabels, names = inputNames
        let configuration = NNMambaSeg.Configuration(
            inChannels: names.count, channels: channels, blocks: blocks,
            classes: labels.count + 1)
        try SafeTensorsFile.write(
            SyntheticWeights.random(SyntheticWeights.shapes(configuration), seed: seed),
            to: directory + "/weights.safetensors")
        // Tumour sub-regions are altered structures, not anatomy (DICOM CID 7150 categories).
        let structure: [String: Any] =
            modality == "MR" && names.count > 1
            ? ["code": "49755003", "scheme": "SCT", "meaning": "Morphologically Altered Structure"]
            : ["code": "123037004", "scheme": "SCT", "meaning": "Anatomical Structure"]
        // nnU-Net's recipe (docs/inference.md): CT clipped and scaled with dataset statistics, MR
        // z-scored per image.
        let normalization: [String: Any] =
            modality == "CT"
            ? ["kind": "ct", "clip": [-1000, 1000], "mean": 40, "std": 300]
            : ["kind": "zscore"]
        let name =
            modality == "CT"
            ? "untrained-ct" : "untrained-mr" + (names.count > 1 ? "-" + names.joined(separator: "-") : "")
        let manifest: [String: Any] = [
            "format": ModelManifest.currentFormat,
            "name": name,
            "task": "segmentation",
            "network": [
                "architecture": "nnMambaSeg", "in_channels": names.count, "channels": channels, "blocks": blocks,
                "outputs": labels.count + 1, "d_state": 16
            ],
            "inputs": names.map { ["name": $0, "modality": modality, "normalization": normalization] },
            "input_layout": ["orientation": "LPS", "array": "sitk_kji"],
            "target_spacing": [spacing, spacing, spacing],
            "patch_size": [patch, patch, patch],
            "mirror_axes": [Int](),
            "labels": labels.enumerated().map { index, label -> [String: Any] in
                [
                    "value": index + 1, "name": label.0, "category": structure,
                    "type": ["code": label.1, "scheme": "SCT", "meaning": label.2], "color": label.3
                ]
            },
            "algorithm": ["name": "nnMamba untrained (random weights)", "version": "0.0"]
        ]
        try JSONSerialization.data(withJSONObject: manifest, options: [.prettyPrinted, .sortedKeys])
            .write(to: URL(fileURLWithPath: directory + "/model.json"))
        // Validate what was written exactly as the node will read it.
        _ = try ModelPackage(directory: directory)
        try """
        # \(name) (random weights)

        Made by `mambanode models create-untrained` with seed \(seed). The weights are random:
        the segmentation it produces is meaningless. It exists to check routing, SEG/SR encoding
        and delivery to the PACS end to end before a trained model is installed.
        """.write(toFile: directory + "/README.md", atomically: true, encoding: .utf8)
        print(
            "wrote \(directory) (nnMambaSeg, \(names.count) \(modality) input(s), \(channels) channels, \(blocks) block(s), \(labels.count) labels, random weights)"
        )
    }
}
