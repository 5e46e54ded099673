/// What one stored file says about grouping, geometry, pixel interpretation and routing,
/// extracted once from its header (`Instance(contentsOf:)` reads without pixels) so that the
/// store can index it and assembly can plan a volume before any pixel is decoded.
///
/// Every image frame is described by a `Frame`: one for a single-frame image, one per frame for
/// an enhanced multi-frame image, whose per-frame and shared functional groups
/// (PS3.3 C.7.6.16) are resolved here so later code never looks at functional groups again.
public struct Instance: Sendable, Codable, Hashable {
    /// Where the file is (pixels are read from here when the volume is assembled).
    public var path: String
    public var sopClassUID: String
    public var sopInstanceUID: String
    public var studyInstanceUID: String
    public var seriesInstanceUID: String
    public var frameOfReferenceUID: String?
    public var transferSyntaxUID: String?
    public var modality: String?
    /// Routing attributes (no patient data).
    public var seriesDescription: String?
    public var bodyPartExamined: String?
    public var seriesNumber: Int?
    public var instanceNumber: Int?
    /// Image Type (0008,0008) values, upper-cased (PS3.3 C.7.6.1.1.2).
    public var imageType: [String]
    public var pixel: PixelDescription
    /// Gantry/Detector Tilt (0018,1120) in degrees, when sent.
    public var gantryTilt: Double?
    public var sliceThickness: Double?
    public var spacingBetweenSlices: Double?
    /// MR Acquisition Type (0018,0023), upper-cased ("2D" or "3D"), when sent: dcm2niix
    /// reorients 3-D acquisitions (docs/official-input-layouts.md §1).
    public var mrAcquisitionType: String?
    /// One entry per frame, in frame order.
    public var frames: [Frame]

    /// An instance from known values (the store index, tests); `init(contentsOf:)` reads a file.
    public init(
        path: String, sopClassUID: String, sopInstanceUID: String, studyInstanceUID: String,
        seriesInstanceUID: String, frameOfReferenceUID: String? = nil, transferSyntaxUID: String? = nil,
        modality: String? = nil, seriesDescription: String? = nil, bodyPartExamined: String? = nil,
        seriesNumber: Int? = nil, instanceNumber: Int? = nil, imageType: [String] = [],
        pixel: PixelDescription, gantryTilt: Double? = nil, sliceThickness: Double? = nil,
        spacingBetweenSlices: Double? = nil, frames: [Frame], hasFunctionalGroups: Bool = false
    ) {
        self.path = path
        self.sopClassUID = sopClassUID
        self.sopInstanceUID = sopInstanceUID
        self.studyInstanceUID = studyInstanceUID
        self.seriesInstanceUID = seriesInstanceUID
        self.frameOfReferenceUID = frameOfReferenceUID
        self.transferSyntaxUID = transferSyntaxUID
        self.modality = modality
        self.seriesDescription = seriesDescription
        self.bodyPartExamined = bodyPartExamined
        self.seriesNumber = seriesNumber
        self.instanceNumber = instanceNumber
        self.imageType = imageType
        self.pixel = pixel
        self.gantryTilt = gantryTilt
        self.sliceThickness = sliceThickness
        self.spacingBetweenSlices = spacingBetweenSlices
        self.frames = frames
        self.hasFunctionalGroups = hasFunctionalGroups
    }

    /// True when the instance is a multi-frame image with functional groups (Enhanced CT/MR…).
    public var isMultiFrame: Bool { pixel.numberOfFrames > 1 || hasFunctionalGroups }
    /// Set when the header has Shared or Per-frame Functional Groups (PS3.3 C.7.6.16).
    public var hasFunctionalGroups: Bool

    /// Image Type value 3 or later says LOCALIZER (PS3.3 C.8.2.1.1.1 for CT; MR and enhanced
    /// objects use the same term).
    public var isLocalizer: Bool { imageType.dropFirst(2).contains("LOCALIZER") }
    /// Image Type value 1 is DERIVED (PS3.3 C.7.6.1.1.2): reformatted, processed, or lossy
    /// compressed (DCMTK and many PACS mark lossy JPEG that way).
    public var isDerived: Bool { imageType.first == "DERIVED" }
    /// Image Type value 3 is PROJECTION IMAGE (MIP, MinIP, radial projections): not a slice.
    public var isProjection: Bool { imageType.dropFirst(2).contains("PROJECTION IMAGE") }
}

/// How stored pixel values become the values of the volume (PS3.3 C.7.6.3 Image Pixel Module).
public struct PixelDescription: Sendable, Codable, Hashable {
    public init(
        rows: Int, columns: Int, samplesPerPixel: Int = 1, bitsAllocated: Int = 16, bitsStored: Int = 16,
        isSigned: Bool = false, numberOfFrames: Int = 1, photometricInterpretation: String = "MONOCHROME2"
    ) {
        self.rows = rows
        self.columns = columns
        self.samplesPerPixel = samplesPerPixel
        self.bitsAllocated = bitsAllocated
        self.bitsStored = bitsStored
        self.isSigned = isSigned
        self.numberOfFrames = numberOfFrames
        self.photometricInterpretation = photometricInterpretation
    }

    public var rows: Int
    public var columns: Int
    public var samplesPerPixel: Int
    public var bitsAllocated: Int
    public var bitsStored: Int
    public var isSigned: Bool
    public var numberOfFrames: Int
    public var photometricInterpretation: String

    /// MONOCHROME1: the minimum stored value is meant to be displayed white
    /// (PS3.3 C.7.6.3.1.2); assembly inverts it so that larger always means brighter.
    public var isMonochrome1: Bool { photometricInterpretation == "MONOCHROME1" }

    /// Smallest and largest stored value Bits Stored and Pixel Representation allow.
    public var storedRange: (min: Int, max: Int) {
        isSigned ? (-(1 << (bitsStored - 1)), (1 << (bitsStored - 1)) - 1) : (0, (1 << bitsStored) - 1)
    }
}

/// One image frame: where it is, how it is oriented and sampled, how its values are scaled, and
/// the keys that separate stacks.
public struct Frame: Sendable, Codable, Hashable {
    /// Image Position (Patient): centre of the first transmitted pixel, LPS mm (PS3.3 C.7.6.2.1.1).
    public var position: SIMD3<Double>?
    /// Image Orientation (Patient): direction of a row, then of a column.
    public var orientation: Orientation?
    /// Pixel Spacing (0028,0030): row spacing (between rows), then column spacing.
    public var pixelSpacing: PixelSpacing?
    public var rescale: Rescale
    /// Splitting keys; nil when not sent.
    public var echoNumber: Int?
    public var echoTime: Double?
    public var acquisitionNumber: Int?
    public var temporalPosition: Int?
    public var diffusionBValue: Double?
    /// Stack ID (0020,9056) of an enhanced frame (PS3.3 C.7.6.16.2.2).
    public var stackID: String?

    public init(
        position: SIMD3<Double>? = nil, orientation: Orientation? = nil, pixelSpacing: PixelSpacing? = nil,
        rescale: Rescale = .identity
    ) {
        self.position = position
        self.orientation = orientation
        self.pixelSpacing = pixelSpacing
        self.rescale = rescale
    }
}

/// Image Orientation (Patient) (0020,0037), PS3.3 C.7.6.2.1.1.
public struct Orientation: Sendable, Codable, Hashable {
    /// Direction of increasing column index (along a row).
    public var row: SIMD3<Double>
    /// Direction of increasing row index (down a column).
    public var column: SIMD3<Double>

    public init(row: SIMD3<Double>, column: SIMD3<Double>) {
        self.row = row
        self.column = column
    }

    /// row × column: the direction in which slices of a right-handed stack advance.
    public var normal: SIMD3<Double> { normalized(cross(row, column)) }

    /// Largest difference between corresponding direction cosines.
    public func distance(to other: Orientation) -> Double {
        max(maxAbs(row - other.row), maxAbs(column - other.column))
    }
}

/// Pixel Spacing (0028,0030): the first value is the distance between rows (adjacent row centres),
/// the second the distance between columns (PS3.3 C.7.6.2.1.1, 10.7.1.3).
public struct PixelSpacing: Sendable, Codable, Hashable {
    public var row: Double
    public var column: Double

    public init(row: Double, column: Double) {
        self.row = row
        self.column = column
    }
}

/// Modality LUT as a linear function (PS3.3 C.11.1.1.2 Rescale Slope and Intercept; for enhanced
/// images the Pixel Value Transformation functional group, C.7.6.16.2.9).
public struct Rescale: Sendable, Codable, Hashable {
    public var slope: Double
    public var intercept: Double

    public init(slope: Double, intercept: Double) {
        self.slope = slope
        self.intercept = intercept
    }

    public static let identity = Rescale(slope: 1, intercept: 0)
}
