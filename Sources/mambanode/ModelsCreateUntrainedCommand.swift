import ArgumentParser
import Foundation
import ModelPackage
import NNMamba

/// `mambanode models create-untrained DIR`: a complete model package with seeded random weights,
/// for checking a site's plumbing (routing, SEG/SR in the PACS) before a trained model is
/// installed. Its outputs are meaningless, and its model card and algorithm name say so.
struct ModelsCreateUntrainedCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "create-untrained",
        abstract: "Write a CT segmentation model package with random weights (for plumbing tests only)."
    )

    @Argument(help: "Package folder to create.") var directory: String
    @Option(help: "Base width of the network (≥ 16).") var channels = 16
    @Option(help: "Residual blocks per stage (≥ 2: the Mamba layer sits in blocks 1…).") var blocks = 2
    @Option(help: "Target spacing in mm (isotropic).") var spacing = 4.0
    @Option(help: "Sliding-window patch edge (multiple of 16).") var patch = 64
    @Option(help: "Random seed.") var seed: UInt64 = 1

    func validate() throws {
        guard channels >= 16 else { throw ValidationError("--channels must be at least 16") }
        guard blocks >= 2 else { throw ValidationError("--blocks must be at least 2") }
        guard patch >= 16, patch % 16 == 0 else { throw ValidationError("--patch must be a multiple of 16") }
        guard spacing > 0 else { throw ValidationError("--spacing must be positive") }
    }

    /// The phantom's structures (Samples/Generator), with SNOMED CT codes as a real model would carry.
    static let labels: [(String, String, String, [Int])] = [
        ("Liver", "10200004", "Liver", [221, 130, 101]),
        ("Spleen", "78961009", "Spleen", [157, 108, 162]),
        ("Vertebra", "51282000", "Bone structure of spine", [241, 214, 145]),
        ("Lesion", "52988006", "Lesion", [255, 0, 0]),
    ]

    func run() throws {
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        let configuration = NNMambaSeg.Configuration(inChannels: 1, channels: channels, blocks: blocks,
                                                     classes: Self.labels.count + 1)
        try SafeTensorsFile.write(SyntheticWeights.random(SyntheticWeights.shapes(configuration), seed: seed),
                              to: directory + "/weights.safetensors")
        let structure: [String: Any] = ["code": "123037004", "scheme": "SCT", "meaning": "Anatomical Structure"]
        let manifest: [String: Any] = [
            "format": ModelManifest.currentFormat,
            "name": "untrained-ct",
            "task": "segmentation",
            "network": ["architecture": "nnMambaSeg", "in_channels": 1, "channels": channels, "blocks": blocks,
                        "outputs": Self.labels.count + 1, "d_state": 16],
            "inputs": [["name": "ct", "modality": "CT",
                        "normalization": ["kind": "ct", "clip": [-1000, 1000], "mean": 40, "std": 300]]],
            "target_spacing": [spacing, spacing, spacing],
            "patch_size": [patch, patch, patch],
            "mirror_axes": [Int](),
            "labels": Self.labels.enumerated().map { index, label -> [String: Any] in
                ["value": index + 1, "name": label.0, "category": structure,
                 "type": ["code": label.1, "scheme": "SCT", "meaning": label.2], "color": label.3]
            },
            "algorithm": ["name": "nnMamba untrained (random weights)", "version": "0.0"],
        ]
        try JSONSerialization.data(withJSONObject: manifest, options: [.prettyPrinted, .sortedKeys])
            .write(to: URL(fileURLWithPath: directory + "/model.json"))
        // Validate what was written exactly as the node will read it.
        _ = try ModelPackage(directory: directory)
        try """
            # untrained-ct (random weights)

            Made by `mambanode models create-untrained` with seed \(seed). The weights are random:
            the segmentation it produces is meaningless. It exists to check routing, SEG/SR encoding
            and delivery to the PACS end to end before a trained model is installed.
            """.write(toFile: directory + "/README.md", atomically: true, encoding: .utf8)
        print("wrote \(directory) (nnMambaSeg, \(channels) channels, \(blocks) block(s), \(Self.labels.count) labels, random weights)")
    }
}
