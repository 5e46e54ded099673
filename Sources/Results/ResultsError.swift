import DICOM

/// The one error type of the Results module: what went wrong (`code`), about which model.json
/// field (`field`), DICOM attribute (`tag`), series or instance, and why (`message`).
///
/// Descriptions never contain patient data: they name fields, tags, UIDs, label values and
/// grids, never the values of identifying attributes.
///
/// ```swift
/// do {
///     let source = try SourceImages(volume: volume, series: series)
/// } catch let error as ResultsError where error.code == .gantryTilt {
///     log.warning("\(error)")  // "series 1.2.3: gantryTilt: source slice 12 … (0018,1120)"
/// }
/// ```
public struct ResultsError: Error, Sendable, Equatable, CustomStringConvertible {
    public enum Code: String, Sendable {
        /// The volume names no source slices (resampled, or read from NIfTI): a SEG cannot
        /// reference the source images it would be drawn on.
        case noSourceReferences
        /// A slice reference names an instance or frame that is not in the source series.
        case sourceNotFound
        /// The volume's grid is not the grid of its source slices (resampled or reoriented).
        case notSourceGrid
        /// The volume was corrected for gantry tilt, so its voxels no longer lie on the source pixels.
        case gantryTilt
        /// A label map is not on the source grid.
        case gridMismatch
        /// A label-map voxel is negative, fractional or beyond 65535.
        case badLabelValue
        /// A label-map value has no label in the model's manifest.
        case unknownLabelValue
        /// The model's manifest lacks or has an unusable value that encoding needs.
        case manifest
        /// A model output does not fit the manifest (wrong number of landmarks, probability outside 0…1).
        case modelOutput
        /// The DICOM writers refused a value or could not write a file.
        case encoding
    }

    public var code: Code
    /// The model.json field, e.g. `labels[1].type.code`.
    public var field: String?
    public var tag: Tag?
    public var seriesInstanceUID: String?
    public var sopInstanceUID: String?
    public var message: String

    public init(
        _ code: Code, _ message: String, field: String? = nil, tag: Tag? = nil, series: String? = nil,
        instance: String? = nil
    ) {
        self.code = code
        self.message = message
        self.field = field
        self.tag = tag
        self.seriesInstanceUID = series
        self.sopInstanceUID = instance
    }

    /// A writer's refusal, naming what was being written.
    init(_ error: DICOMError, writing what: String, field: String? = nil) {
        self.init(.encoding, "\(what): \(error)", field: field, tag: error.tag)
    }

    public var description: String {
        var text = ""
        if let seriesInstanceUID { text += "series \(seriesInstanceUID): " }
        text += "\(code.rawValue): "
        if let field, !message.contains(field) { text += "\(field): " }
        text += message
        if let tag, !message.contains(tag.description) { text += " \(tag.described)" }
        if let sopInstanceUID { text += " (instance \(sopInstanceUID))" }
        return text
    }
}
