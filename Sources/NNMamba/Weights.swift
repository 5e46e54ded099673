/// The weights of one model, read from a safetensors state_dict with PyTorch key names.
///
/// Key handling (docs/nnmamba-architecture.md §8.11): a leading `module.` (DataParallel/DDP) is
/// stripped; `*.num_batches_tracked` and the deep-supervision heads `ds1_cls_conv.*`,
/// `ds2_cls_conv.*`, `ds3_cls_conv.*` are ignored. Model constructors `take` every tensor they use
/// with its expected shape, then call `finish()`, which rejects every key nobody took. A renamed
/// key is therefore reported as missing under the model's name (the first error thrown).
///
/// Not thread-safe: load models on one thread.
public final class Weights {
    public let file: SafeTensorsFile
    /// Normalised name → name in the file.
    private var fileName: [String: String] = [:]
    private var taken: Set<String> = []

    /// Opens a safetensors file. Throws `.malformedFile`/`.io` for a bad file and
    /// `.invalidConfiguration` if two keys collide after stripping `module.`.
    public convenience init(path: String) throws {
        try self.init(file: SafeTensorsFile(path: path))
    }

    public init(file: SafeTensorsFile) throws {
        self.file = file
        for name in file.names {
            let normalised = name.hasPrefix("module.") ? String(name.dropFirst("module.".count)) : name
            if fileName[normalised] != nil {
                throw NNMambaError(
                    .invalidConfiguration, key: name, "duplicates '\(normalised)' after stripping 'module.'")
            }
            fileName[normalised] = name
        }
    }

    /// All normalised keys.
    public var keys: [String] { Array(fileName.keys) }

    /// Whether a (normalised) key is present.
    public func contains(_ key: String) -> Bool { fileName[key] != nil }

    /// Shape of a (normalised) key, if present.
    public func shape(of key: String) -> [Int]? { fileName[key].flatMap { file.entries[$0]?.shape } }

    /// The float32 tensor `key`, checked against `shape`; marks it as used.
    /// Throws `.missingKey` or `.shapeMismatch` (with both shapes) or `.unsupportedDType`.
    public func take(_ key: String, shape: [Int]) throws -> Tensor {
        guard let name = fileName[key], let entry = file.entries[name] else {
            throw NNMambaError(.missingKey, key: key, expectedShape: shape, "not in \(file.path)")
        }
        guard entry.shape == shape else {
            throw NNMambaError(.shapeMismatch, key: key, expectedShape: shape, actualShape: entry.shape)
        }
        guard entry.dtype == "F32" || entry.dtype == "F64" else {
            throw NNMambaError(
                .unsupportedDType, key: key, expectedShape: shape, actualShape: entry.shape,
                "dtype \(entry.dtype), expected F32")
        }
        taken.insert(key)
        return try file.tensor(name)
    }

    /// Whether a key is ignored by every model (BN counters, deep-supervision heads).
    public static func isIgnored(_ key: String) -> Bool {
        key.hasSuffix("num_batches_tracked") || key.hasPrefix("ds1_cls_conv.")
            || key.hasPrefix("ds2_cls_conv.") || key.hasPrefix("ds3_cls_conv.")
    }

    /// Throws `.unexpectedKey` for the first (sorted) key that was neither taken nor ignored.
    public func finish() throws {
        for key in fileName.keys.sorted() where !taken.contains(key) && !Self.isIgnored(key) {
            throw NNMambaError(
                .unexpectedKey, key: key, actualShape: shape(of: key),
                "not used by the model")
        }
    }
}
