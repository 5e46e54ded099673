import Foundation

/// A model package folder (docs/model-package.md): `model.json`, `weights.safetensors` (state_dict key
/// names of the official code) and `README.md` (the model card).
public struct ModelPackage: Sendable {
    public let directory: String
    public let manifest: ModelManifest

    public var weightsPath: String { directory + "/weights.safetensors" }
    public var modelCardPath: String { directory + "/README.md" }

    /// Reads and validates `model.json`; every problem names the field.
    public init(directory: String) throws(ModelPackageError) {
        self.directory = directory
        let path = directory + "/model.json"
        guard let data = FileManager.default.contents(atPath: path) else {
            throw ModelPackageError(package: directory, field: "model.json", message: "cannot read")
        }
        let decoder = JSONDecoder()
        decoder.keyDecodingStrategy = .convertFromSnakeCase
        do {
            manifest = try decoder.decode(ModelManifest.self, from: data)
        } catch let DecodingError.keyNotFound(key, context) {
            throw ModelPackageError(
                package: directory, field: Self.path(context.codingPath + [key]), message: "missing")
        } catch let DecodingError.typeMismatch(type, context) {
            throw ModelPackageError(
                package: directory, field: Self.path(context.codingPath), message: "expected \(type)")
        } catch let DecodingError.valueNotFound(type, context) {
            throw ModelPackageError(
                package: directory, field: Self.path(context.codingPath), message: "expected \(type), found null")
        } catch let DecodingError.dataCorrupted(context) {
            throw ModelPackageError(
                package: directory, field: Self.path(context.codingPath),
                message: context.underlyingError.map { "not valid JSON: \($0.localizedDescription)" }
                    ?? context.debugDescription)
        } catch {
            throw ModelPackageError(package: directory, field: "model.json", message: "\(error)")
        }
        try manifest.validate(package: directory)
        guard FileManager.default.fileExists(atPath: weightsPath) else {
            throw ModelPackageError(package: directory, field: "weights.safetensors", message: "missing")
        }
    }

    static func path(_ keys: [any CodingKey]) -> String {
        var text = ""
        for key in keys {
            if let index = key.intValue {
                text += "[\(index)]"
            } else {
                text += (text.isEmpty ? "" : ".") + snake(key.stringValue)
            }
        }
        return text
    }

    static func snake(_ camel: String) -> String {
        var out = ""
        for c in camel {
            if c.isUppercase { out += "_" + c.lowercased() } else { out.append(c) }
        }
        return out
    }
}

extension ModelManifest {
    /// Checks what JSON decoding cannot: consistent counts, ranges, names and codes.
    func validate(package: String) throws(ModelPackageError) {
        func fail(_ field: String, _ message: String) -> ModelPackageError {
            ModelPackageError(package: package, field: field, message: message)
        }
        guard ModelManifest.readableFormats.contains(format) else {
            throw fail(
                "format", "'\(format)' is not one of \(ModelManifest.readableFormats.joined(separator: ", "))")
        }
        // Format 2 states the array its weights were trained on; format 1 predates the field and
        // keeps the node's own layout, its documented default (docs/model-package.md).
        if format != ModelManifest.firstFormat && inputLayout == nil {
            throw fail("input_layout", "must be given in \(format) (the array the weights were trained on)")
        }
        guard !name.isEmpty else { throw fail("name", "must not be empty") }
        let n = network
        for (field, value) in [
            ("in_channels", n.inChannels), ("channels", n.channels), ("blocks", n.blocks), ("outputs", n.outputs)
        ]
        where value < 1 {
            throw fail("network.\(field)", "must be at least 1")
        }
        if n.architecture == .nnMambaSeg && n.channels < 16 {
            // The skip gate's hidden width is channels / 16 (docs/nnmamba-architecture.md §2.8).
            throw fail("network.channels", "nnMambaSeg needs at least 16 channels")
        }
        switch (task, n.architecture) {
        case (.segmentation, .nnMambaSeg), (.landmarks, .nnMambaSeg), (.classification, .nnMambaEncoder): break
        default: throw fail("network.architecture", "\(n.architecture.rawValue) cannot do \(task.rawValue)")
        }
        guard inputs.count == n.inChannels else {
            throw fail("inputs", "\(inputs.count) inputs for a network with \(n.inChannels) input channels")
        }
        for (i, input) in inputs.enumerated() {
            let norm = input.normalization
            if norm.kind == .ct {
                guard let clip = norm.clip, clip.count == 2, clip[0] < clip[1] else {
                    throw fail("inputs[\(i)].normalization.clip", "CT normalisation needs [low, high]")
                }
                guard norm.mean != nil, let std = norm.std, std > 0 else {
                    throw fail("inputs[\(i)].normalization", "CT normalisation needs mean and a positive std")
                }
            }
        }
        guard targetSpacing.count == 3, targetSpacing.allSatisfy({ $0 > 0 }) else {
            throw fail("target_spacing", "expected three positive spacings in mm")
        }
        guard patchSize.count == 3,
            patchSize.allSatisfy({ $0 >= 16 && $0 % 16 == 0 }) || n.architecture == .nnMambaEncoder
        else {
            throw fail("patch_size", "expected three sizes, each a multiple of 16")
        }
        for axis in mirrorAxes ?? [] where !(2...4).contains(axis) {
            throw fail("mirror_axes", "axis \(axis) is not a spatial tensor axis (2, 3 or 4)")
        }
        try validatePreprocessing(fail)
        func checkCode(_ code: Code, _ field: String) throws(ModelPackageError) {
            guard !code.code.isEmpty, !code.scheme.isEmpty, !code.meaning.isEmpty else {
                throw fail(field, "code, scheme and meaning must all be given")
            }
        }
        switch task {
        case .segmentation:
            guard let labels, !labels.isEmpty else { throw fail("labels", "a segmentation model needs labels") }
            var seen = Set<Int>()
            for (i, label) in labels.enumerated() {
                guard (1..<n.outputs).contains(label.value) else {
                    throw fail(
                        "labels[\(i)].value",
                        "\(label.value) is not an output class 1…\(n.outputs - 1) (0 is background)")
                }
                guard seen.insert(label.value).inserted else {
                    throw fail("labels[\(i)].value", "duplicate label \(label.value)")
                }
                guard !label.name.isEmpty else { throw fail("labels[\(i)].name", "must not be empty") }
                try checkCode(label.category, "labels[\(i)].category")
                try checkCode(label.type, "labels[\(i)].type")
                if let modifier = label.typeModifier { try checkCode(modifier, "labels[\(i)].type_modifier") }
                if let color = label.color, color.count != 3 || !color.allSatisfy({ (0...255).contains($0) }) {
                    throw fail("labels[\(i)].color", "expected [r, g, b] in 0…255")
                }
                if let type = label.rtRoiInterpretedType, !Label.rtROIInterpretedTypes.contains(type) {
                    throw fail(
                        "labels[\(i)].rt_roi_interpreted_type",
                        "'\(type)' is not an RT ROI Interpreted Type (PS3.3 C.8.8.8.1), e.g. ORGAN, OAR, AVOIDANCE")
                }
            }
        case .landmarks:
            guard let landmarks, !landmarks.isEmpty else { throw fail("landmarks", "a landmark model needs landmarks") }
            let names = Set(landmarks.map(\.name))
            guard names.count == landmarks.count else { throw fail("landmarks", "landmark names must be unique") }
            for (i, landmark) in landmarks.enumerated() where !(0..<n.outputs).contains(landmark.channel) {
                throw fail("landmarks[\(i)].channel", "\(landmark.channel) is not an output channel 0…\(n.outputs - 1)")
            }
            for (i, distance) in (distances ?? []).enumerated() {
                for end in [distance.from, distance.to] where !names.contains(end) {
                    throw fail("distances[\(i)]", "unknown landmark '\(end)'")
                }
            }
        case .classification:
            guard let classification else {
                throw fail("classification", "a classification model needs classification")
            }
            guard (0...1).contains(classification.threshold) else {
                throw fail("classification.threshold", "must be in 0…1")
            }
            try checkCode(classification.concept, "classification.concept")
            // TID 1501 has a Finding row of its own; a classification named Finding is refused
            // by the SR encoder (DICOM/Report/MeasurementGroups.swift), so refuse it here, at load.
            if classification.concept.code == "121071" && classification.concept.scheme == "DCM" {
                throw fail(
                    "classification.concept",
                    "must name what is classified, e.g. (111042, DCM, Pathology), "
                        + "not (121071, DCM, Finding): TID 1501 has a Finding row of its own")
            }
            try checkCode(classification.positive, "classification.positive")
            try checkCode(classification.negative, "classification.negative")
            if let calibration = classification.calibration {
                guard calibration.temperature.isFinite, calibration.temperature > 0 else {
                    throw fail("classification.calibration.temperature", "must be a finite number above 0")
                }
            }
        }
        guard !algorithm.name.isEmpty, !algorithm.version.isEmpty else {
            throw fail("algorithm", "name and version must be given (they are written into SEG and SR)")
        }
        if let family = algorithm.family { try checkCode(family, "algorithm.family") }
        for (i, type) in (acceptedImageTypes ?? []).enumerated() where !["ORIGINAL", "DERIVED"].contains(type) {
            throw fail(
                "accepted_image_types[\(i)]",
                "'\(type)' is not ORIGINAL or DERIVED (Image Type value 1, PS3.3 C.7.6.1.1.2)")
        }
        if acceptedImageTypes?.isEmpty == true {
            throw fail("accepted_image_types", "names no Image Type: the model could run on nothing")
        }
        if let window = displayWindow, !(window.center.isFinite && window.width.isFinite && window.width >= 1) {
            throw fail("display_window", "center must be finite and width at least 1 (PS3.3 C.11.2.1.2)")
        }
    }
}

extension ModelManifest {
    /// The recipe's own fields, and the normalisations that only one recipe defines.
    fileprivate func validatePreprocessing(
        _ fail: (String, String) -> ModelPackageError
    ) throws(ModelPackageError) {
        let recipe = self.recipe
        if let forward = preprocessing?.transposeForward {
            guard recipe == .nnunetV1 else {
                throw fail("preprocessing.transpose_forward", "only the nnunet_v1 recipe transposes")
            }
            guard forward.sorted() == [0, 1, 2] else {
                throw fail("preprocessing.transpose_forward", "must be a permutation of [0, 1, 2]")
            }
        }
        if recipe == .lfc {
            // LFC's reading of the heat-map peaks assumes a cube (docs/official-input-layouts.md §4).
            guard let grid = preprocessing?.grid, grid.count == 3, Set(grid).count == 1, grid[0] >= 16,
                grid[0] % 16 == 0
            else {
                throw fail("preprocessing.grid", "the lfc recipe needs a cube, e.g. [128, 128, 128], a multiple of 16")
            }
            guard task == .landmarks else {
                throw fail("preprocessing.recipe", "lfc is a landmark recipe, not \(task.rawValue)")
            }
            for (i, input) in inputs.enumerated() where ![.lfcWindow, .none].contains(input.normalization.kind) {
                throw fail("inputs[\(i)].normalization.kind", "the lfc recipe normalises with lfc_window or none")
            }
        } else if preprocessing?.grid != nil {
            throw fail("preprocessing.grid", "only the lfc recipe resizes to a fixed grid")
        }
        if recipe != .mambanode && layout.orientation != .asStoredByDcm2niix {
            // The official code reads the stored file; the node's LPS grid is its own.
            throw fail(
                "input_layout.orientation", "the \(recipe.rawValue) recipe reads volumes as_stored_by_dcm2niix")
        }
        for (i, input) in inputs.enumerated() where input.normalization.kind == .lfcWindow && recipe != .lfc {
            throw fail("inputs[\(i)].normalization.kind", "lfc_window belongs to the lfc recipe")
        }
    }
}
