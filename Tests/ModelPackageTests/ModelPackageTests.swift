import Foundation
import ModelPackage
import TestSupport
import Testing

@Suite struct ModelPackageTests {
    static var valid: [String: Any] {
        [
            "format": "mambanode-model/1",
            "name": "ct-organs",
            "task": "segmentation",
            "network": ["architecture": "nnMambaSeg", "in_channels": 1, "channels": 16, "blocks": 2, "outputs": 3],
            "inputs": [
                [
                    "name": "ct", "modality": "CT",
                    "normalization": ["kind": "ct", "clip": [-1000, 1000], "mean": 40, "std": 300]
                ]
            ],
            "target_spacing": [2.5, 2.5, 2.5],
            "patch_size": [64, 64, 64],
            "labels": [
                [
                    "value": 1, "name": "Liver",
                    "category": ["code": "123037004", "scheme": "SCT", "meaning": "Anatomical Structure"],
                    "type": ["code": "10200004", "scheme": "SCT", "meaning": "Liver"], "color": [221, 130, 101]
                ],
                [
                    "value": 2, "name": "Spleen",
                    "category": ["code": "123037004", "scheme": "SCT", "meaning": "Anatomical Structure"],
                    "type": ["code": "78961009", "scheme": "SCT", "meaning": "Spleen"]
                ]
            ],
            "algorithm": ["name": "nnMamba CT organs", "version": "1.0"]
        ]
    }

    func write(_ manifest: [String: Any], weights: Bool = true) throws -> TemporaryDirectory {
        let dir = TemporaryDirectory("model")
        let data = try JSONSerialization.data(withJSONObject: manifest, options: [.sortedKeys])
        try data.write(to: URL(fileURLWithPath: dir.file("model.json")))
        if weights { try Data().write(to: URL(fileURLWithPath: dir.file("weights.safetensors"))) }
        return dir
    }

    @Test func validPackageLoads() throws {
        let dir = try write(Self.valid)
        let package = try ModelPackage(directory: dir.path)
        #expect(package.manifest.task == .segmentation)
        #expect(package.manifest.network.inChannels == 1)
        #expect(package.manifest.inputs[0].normalization.clip == [-1000, 1000])
        #expect(package.manifest.labels?.map(\.name) == ["Liver", "Spleen"])
        #expect(package.weightsPath == dir.file("weights.safetensors"))
    }

    static func modified(_ change: (inout [String: Any]) -> Void) -> [String: Any] {
        var copy = valid
        change(&copy)
        return copy
    }

    /// Mistakes, each with the field its error must name.
    static let mistakes: [(field: String, change: @Sendable (inout [String: Any]) -> Void)] = [
        ("format", { $0["format"] = "other/2" }),
        // Format 2 states the array its weights were trained on.
        ("input_layout", { $0["format"] = "mambanode-model/2" }),
        // The official recipes read the stored volume, and only nnU-Net's transposes.
        ("input_layout.orientation", { $0["preprocessing"] = ["recipe": "nnunet_v1"] }),
        (
            "preprocessing.transpose_forward",
            { $0["preprocessing"] = ["recipe": "mambanode", "transpose_forward": [2, 0, 1]] }
        ),
        (
            "preprocessing.transpose_forward",
            {
                $0["input_layout"] = ["orientation": "as_stored_by_dcm2niix", "array": "sitk_kji"]
                $0["preprocessing"] = ["recipe": "nnunet_v1", "transpose_forward": [0, 0, 1]]
            }
        ),
        (
            "preprocessing.grid",
            {
                $0["input_layout"] = ["orientation": "as_stored_by_dcm2niix", "array": "sitk_kji"]
                $0["preprocessing"] = ["recipe": "lfc", "grid": [128, 128, 64]]
            }
        ),
        (
            "classification.calibration.temperature",
            {
                $0["task"] = "classification"
                $0["network"] = [
                    "architecture": "nnMambaEncoder", "in_channels": 1, "channels": 16, "blocks": 2, "outputs": 1
                ]
                $0.removeValue(forKey: "labels")
                let code = ["code": "1", "scheme": "99X", "meaning": "m"]
                $0["classification"] = [
                    "concept": code, "positive": code, "negative": code, "threshold": 0.5,
                    "calibration": ["method": "temperature", "temperature": 0]
                ]
            }
        ),
        ("algorithm", { $0.removeValue(forKey: "algorithm") }),
        (
            "inputs",
            {
                $0["network"] = [
                    "architecture": "nnMambaSeg", "in_channels": 2, "channels": 16, "blocks": 2, "outputs": 3
                ]
            }
        ),
        (
            "network.channels",
            {
                $0["network"] = [
                    "architecture": "nnMambaSeg", "in_channels": 1, "channels": 8, "blocks": 2, "outputs": 3
                ]
            }
        ),
        ("patch_size", { $0["patch_size"] = [64, 60, 64] }),
        (
            "labels[0].value",
            {
                $0["labels"] = [
                    [
                        "value": 3, "name": "X", "category": ["code": "1", "scheme": "SCT", "meaning": "c"],
                        "type": ["code": "2", "scheme": "SCT", "meaning": "t"]
                    ]
                ]
            }
        ),
        (
            "labels[0].category",
            {
                $0["labels"] = [
                    [
                        "value": 1, "name": "X", "category": ["code": "", "scheme": "SCT", "meaning": "c"],
                        "type": ["code": "2", "scheme": "SCT", "meaning": "t"]
                    ]
                ]
            }
        ),
        (
            "labels[0].type",
            { $0["labels"] = [["value": 1, "name": "X", "category": ["code": "1", "scheme": "SCT", "meaning": "c"]]] }
        ),
        ("network.architecture", { $0["task"] = "classification" }),
        ("landmark_refinement", { $0["landmark_refinement"] = "spline" }),
        ("accepted_image_types[1]", { $0["accepted_image_types"] = ["ORIGINAL", "SECONDARY"] }),
        ("accepted_image_types", { $0["accepted_image_types"] = [String]() }),
        ("display_window", { $0["display_window"] = ["center": 40, "width": 0] }),
        (
            "labels[0].rt_roi_interpreted_type",
            {
                var labels = $0["labels"] as! [[String: Any]]
                labels[0]["rt_roi_interpreted_type"] = "organ"
                $0["labels"] = labels
            }
        ),
        (
            "inputs[0].normalization.clip",
            {
                $0["inputs"] = [
                    [
                        "name": "ct",
                        "normalization": [
                            "kind": "ct", "clip": [1000, -1000],
                            "mean": 0, "std": 1
                        ]
                    ]
                ]
            }
        )
    ]

    /// Each mistake names the field it is in.
    @Test(arguments: 0..<mistakes.count)
    func mistakesNameTheField(index: Int) throws {
        let (field, change) = Self.mistakes[index]
        let dir = try write(Self.modified(change))
        let error = #expect(throws: ModelPackageError.self) { try ModelPackage(directory: dir.path) }
        #expect(error?.field == field, "\(String(describing: error))")
    }

    /// Sub-voxel landmark decoding is the package's choice; absent means the peak voxel.
    @Test func landmarkRefinementIsRead() throws {
        let plain = try write(Self.valid) // kept alive: the folder goes with the value
        #expect(try ModelPackage(directory: plain.path).manifest.landmarkRefinement == nil)
        let dir = try write(Self.modified { $0["landmark_refinement"] = "centroid" })
        #expect(try ModelPackage(directory: dir.path).manifest.landmarkRefinement == .centroid)
        let parabolic = try write(Self.modified { $0["landmark_refinement"] = "parabolic" })
        #expect(try ModelPackage(directory: parabolic.path).manifest.landmarkRefinement == .parabolic)
    }

    /// A format 1 package (written before `input_layout` existed) keeps the node's own layout; a
    /// format 2 package says which layout it has.
    @Test func formatOneDefaultsTheLayoutAndFormatTwoStatesIt() throws {
        let old = try write(Self.valid)
        let first = try ModelPackage(directory: old.path).manifest
        #expect(first.inputLayout == nil)
        #expect(first.layout == ModelManifest.InputLayout(orientation: .lps, array: .sitkKJI))
        let stated = try write(
            Self.modified {
                $0["format"] = "mambanode-model/2"
                $0["input_layout"] = ["orientation": "as_stored_by_dcm2niix", "array": "sitk_kji"]
            })
        #expect(
            try ModelPackage(directory: stated.path).manifest.layout
                == ModelManifest.InputLayout(orientation: .asStoredByDcm2niix, array: .sitkKJI))
    }

    @Test func missingWeightsAreNamed() throws {
        let dir = try write(Self.valid, weights: false)
        let error = #expect(throws: ModelPackageError.self) { try ModelPackage(directory: dir.path) }
        #expect(error?.field == "weights.safetensors")
    }
}
