import DICOM

/// The one error type of the Volume module: what went wrong (`code`), in which series, about which
/// attribute (`tag`) and which instance, and why (`reason`).
///
/// Descriptions never contain patient data: they name tags, UIDs, counts and millimetres, never
/// the values of identifying attributes.
///
/// ```swift
/// do {
///     let volume = try series.assemble().volume
/// } catch let error as VolumeError where error.code == .missingSlice {
///     log.warning("\(error)")  // "series 1.2.3: missing slice: gap of 6.0 mm … (0020,0032) …"
/// }
/// ```
public struct VolumeError: Error, Sendable, Equatable, CustomStringConvertible {
    public enum Code: String, Sendable, Codable {
        /// A file could not be read as DICOM, or its pixels could not be decoded.
        case unreadable
        /// A required attribute is absent (e.g. Image Position (Patient)).
        case missingAttribute
        /// An attribute has a value that cannot be used (wrong count, zero spacing, not unit vectors).
        case badAttribute
        /// A valid encoding this module does not turn into a scalar volume (colour, float pixels).
        case unsupported
        /// No instance of the series is an image with geometry (after excluding localizers etc.).
        case noImages
        /// The series asked for is not among those found.
        case seriesNotFound
        /// Several series were found and none was chosen.
        case ambiguousSeries
        /// Only one slice: no slice spacing can be measured.
        case singleSlice
        /// Slices disagree on orientation and no stack has two slices.
        case mixedOrientation
        /// Two slices of one stack share a position.
        case duplicatePosition
        /// A gap is a multiple of the median gap.
        case missingSlice
        /// Gaps differ from the median by more than the tolerance.
        case nonUniformSpacing
        /// Slice positions do not lie on a line (neither straight nor a gantry-tilt shear).
        case irregularPositions
        /// Gantry tilt (sheared slice track) while configured to refuse it.
        case gantryTilt
        /// A geometry or resampling request that cannot be met (empty grid, singular direction).
        case badGeometry
        /// NIfTI reading or writing failed.
        case nifti
        /// The volume would exceed `AssemblyOptions.maximumVoxels`.
        case tooLarge
    }

    public var code: Code
    public var seriesInstanceUID: String?
    public var tag: Tag?
    /// The SOP Instance UID the error is about, when one is.
    public var sopInstanceUID: String?
    public var reason: String

    public init(_ code: Code, _ reason: String, series: String? = nil, tag: Tag? = nil, instance: String? = nil) {
        self.code = code
        self.reason = reason
        self.seriesInstanceUID = series
        self.tag = tag
        self.sopInstanceUID = instance
    }

    public var description: String {
        var text = ""
        if let seriesInstanceUID { text += "series \(seriesInstanceUID): " }
        text += "\(code.rawValue): \(reason)"
        if let tag, !reason.contains(tag.description) { text += " \(tag.described)" }
        if let sopInstanceUID { text += " (instance \(sopInstanceUID))" }
        return text
    }

}

/// Something assembly accepted but a person should know (and the JSON report shows).
public struct VolumeWarning: Sendable, Codable, Equatable, CustomStringConvertible {
    public enum Code: String, Sendable, Codable {
        /// Instances left out of every stack (localizer, derived, not an image, unreadable).
        case excludedInstances
        /// The series held more than one stack; the primary one was assembled.
        case additionalStacks
        /// Gantry tilt was corrected by resampling onto an orthogonal grid.
        case gantryTiltResampled
        /// Gantry Detector Tilt (0018,1120) disagrees with the slice positions.
        case gantryTiltTagMismatch
        /// A single slice was accepted; its thickness stands in for the slice spacing.
        case singleSlice
        /// Every image of the series is DERIVED (lossy compressed or reformatted) and was used.
        case derivedImages
        /// Slice gaps vary within the tolerance.
        case spacingVariation
    }

    public var code: Code
    public var message: String

    public init(_ code: Code, _ message: String) {
        self.code = code
        self.message = message
    }

    public var description: String { "\(code.rawValue): \(message)" }
}
