import Foundation
import ModelPackage

/// Model manifests as model.json would hold them.
enum Manifests {
    static let anatomicalStructure: [String: String] = [
        "code": "123037004", "scheme": "SCT", "meaning": "Anatomical Structure"
    ]

    /// The phantom's labels listed out of value order, so segment numbers (list order) differ
    /// from label values: value 2 is segment 1, value 1 segment 2.
    static var phantomLabels: [[String: Any]] {
        [
            [
                "value": 2, "name": "Spleen", "category": anatomicalStructure,
                "type": ["code": "78961009", "scheme": "SCT", "meaning": "Spleen"], "color": [157, 108, 162]
            ],
            [
                "value": 1, "name": "Liver", "category": anatomicalStructure,
                "type": ["code": "10200004", "scheme": "SCT", "meaning": "Liver"], "color": [221, 130, 101]
            ],
            [
                "value": 3, "name": "Vertebra", "category": anatomicalStructure,
                "type": ["code": "51282000", "scheme": "SCT", "meaning": "Vertebra"]
            ],
            [
                "value": 4, "name": "Lesion",
                "category": ["code": "49755003", "scheme": "SCT", "meaning": "Morphologically Abnormal Structure"],
                "type": ["code": "52988006", "scheme": "SCT", "meaning": "Lesion"], "color": [255, 0, 0]
            ]
        ]
    }

    /// Segment number of each phantom label value under `phantomLabels`.
    static let segmentOfValue: [UInt8] = [0, 2, 1, 3, 4]

    static func segmentation(labels: [[String: Any]] = phantomLabels, outputs: Int = 5) -> [String: Any] {
        base(task: "segmentation", architecture: "nnMambaSeg", outputs: outputs).merging(["labels": labels]) { $1 }
    }

    static func classification() -> [String: Any] {
        base(task: "classification", architecture: "nnMambaEncoder", outputs: 1).merging([
            "classification": [
                "concept": ["code": "111042", "scheme": "DCM", "meaning": "Pathology"],
                "positive": ["code": "86049000", "scheme": "SCT", "meaning": "Malignant neoplasm"],
                "negative": ["code": "17621005", "scheme": "SCT", "meaning": "Normal"],
                "threshold": 0.5
            ]
        ]) { $1 }
    }

    static func landmarks() -> [String: Any] {
        base(task: "landmarks", architecture: "nnMambaSeg", outputs: 2).merging([
            "landmarks": [
                [
                    "channel": 0, "name": "Lesion centre",
                    "code": ["code": "52988006", "scheme": "SCT", "meaning": "Lesion"]
                ],
                ["channel": 1, "name": "Vertebra centre"]
            ],
            "distances": [["from": "Lesion centre", "to": "Vertebra centre", "name": "Lesion to vertebra"]]
        ]) { $1 }
    }

    static func base(task: String, architecture: String, outputs: Int) -> [String: Any] {
        [
            "format": "mambanode-model/1",
            "name": "Phantom organs",
            "task": task,
            "network": [
                "architecture": architecture, "in_channels": 1, "channels": 16, "blocks": 2, "outputs": outputs
            ],
            "inputs": [
                [
                    "name": "ct", "modality": "CT",
                    "normalization": ["kind": "ct", "clip": [-1000, 1000], "mean": 40, "std": 300]
                ]
            ],
            "target_spacing": [2.5, 2.5, 2.5],
            "patch_size": [64, 64, 64],
            "algorithm": ["name": "nnMamba phantom", "version": "0.1"]
        ]
    }

    /// Decodes a manifest as `ModelPackage` does, without its validation (so that the Results
    /// module's own checks are what a test sees).
    static func decode(_ json: [String: Any]) throws -> ModelManifest {
        let decoder = JSONDecoder()
        decoder.keyDecodingStrategy = .convertFromSnakeCase
        return try decoder.decode(ModelManifest.self, from: JSONSerialization.data(withJSONObject: json))
    }

    /// Writes a model package folder (model.json and an empty weights file) into `directory`.
    static func writePackage(_ json: [String: Any], into directory: String) throws {
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        try JSONSerialization.data(withJSONObject: json, options: [.sortedKeys])
            .write(to: URL(fileURLWithPath: directory + "/model.json"))
        try Data().write(to: URL(fileURLWithPath: directory + "/weights.safetensors"))
    }
}
