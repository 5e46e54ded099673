import CDICOM
import CDICOMObjects
import DICOM

/// An RGB image with 8 bits per sample, pixel (row r, column c) at `3 * (r * columns + c)`.
public struct RGBImage: Sendable, Equatable {
    public var rows: Int
    public var columns: Int
    public var pixels: [UInt8]

    public init(rows: Int, columns: Int, pixels: [UInt8]) {
        precondition(
            pixels.count == rows * columns * 3, "RGB image of \(rows)×\(columns) needs \(rows * columns * 3) bytes")
        self.rows = rows
        self.columns = columns
        self.pixels = pixels
    }

    public init(rows: Int, columns: Int) {
        self.init(rows: rows, columns: columns, pixels: [UInt8](repeating: 0, count: rows * columns * 3))
    }

    public subscript(row: Int, column: Int) -> SIMD3<UInt8> {
        get {
            let i = 3 * (row * columns + column)
            return SIMD3(pixels[i], pixels[i + 1], pixels[i + 2])
        }
        set {
            let i = 3 * (row * columns + column)
            pixels[i] = newValue.x
            pixels[i + 1] = newValue.y
            pixels[i + 2] = newValue.z
        }
    }
}

/// Where a Secondary Capture image lies: its source slice's plane, copied so that viewers link and
/// scroll the overlay series with the source (Image Plane Module, PS3.3 C.7.6.2, and Frame of
/// Reference, as Standard Extended attributes of the SC Image IOD, PS3.4 B.1.3).
public struct SecondaryCapturePlane: Sendable, Hashable {
    public var source: SourceFrame
    public var rowDirection: SIMD3<Double>
    public var columnDirection: SIMD3<Double>
    /// (row spacing, column spacing) in mm.
    public var pixelSpacing: SIMD2<Double>
    public var sliceThickness: Double
    public var frameOfReferenceUID: String

    public init(
        source: SourceFrame, rowDirection: SIMD3<Double>, columnDirection: SIMD3<Double>, pixelSpacing: SIMD2<Double>,
        sliceThickness: Double, frameOfReferenceUID: String
    ) {
        self.source = source
        self.rowDirection = rowDirection
        self.columnDirection = columnDirection
        self.pixelSpacing = pixelSpacing
        self.sliceThickness = sliceThickness
        self.frameOfReferenceUID = frameOfReferenceUID
    }
}

/// Writes one Secondary Capture Image (PS3.3 A.8.1; SOP Class 1.2.840.10008.5.1.4.1.1.7): RGB,
/// Burned In Annotation YES, derived from its source slice (Source Image Sequence) and on that
/// slice's plane. The single-frame SC is what every PACS and viewer displays (docs/conformance.md,
/// created objects).
///
/// ```swift
/// let writer = try SecondaryCaptureWriter(
///     image: rgb, plane: plane, referencePath: sourceFile, derivation: "liver outline",
///     series: SeriesIdentity(seriesInstanceUID: scSeries, sopInstanceUID: uids.make(), seriesNumber: 904,
///                            instanceNumber: k + 1), equipment: equipment)
/// try writer.write(to: "/var/out/sc-1.dcm")
/// ```
public struct SecondaryCaptureWriter: Sendable {
    public static let sopClassUID = "1.2.840.10008.5.1.4.1.1.7"

    public let image: RGBImage
    /// The source slice's plane, or nil for an image of no slice (a summary page).
    public let plane: SecondaryCapturePlane?
    /// A source file whose patient and study the image is filed under.
    public let referencePath: String
    public let derivation: String?
    public let series: SeriesIdentity
    public let equipment: EquipmentIdentity

    /// - Throws: `.argument` for an image of no pixel or over 65535 rows or columns, or a plane on
    ///   a frame of a multi-frame source; `.badValue` for a Frame of Reference UID that is no UID.
    public init(
        image: RGBImage, plane: SecondaryCapturePlane?, referencePath: String, derivation: String?,
        series: SeriesIdentity, equipment: EquipmentIdentity
    ) throws(DICOMError) {
        guard (1...65535).contains(image.rows), (1...65535).contains(image.columns) else {
            throw DICOMError(.argument, "a \(image.rows)×\(image.columns) image cannot be a Secondary Capture")
        }
        if let plane {
            guard UID.isValid(plane.frameOfReferenceUID) else {
                throw DICOMError(.badValue, "the Frame of Reference UID is not a UID", tag: .frameOfReferenceUID)
            }
        }
        self.image = image
        self.plane = plane
        self.referencePath = referencePath
        self.derivation = derivation
        self.series = series
        self.equipment = equipment
    }

    /// Writes the image (Explicit VR Little Endian) to `path`.
    public func write(to path: String) throws(DICOMError) {
        DICOMLibrary.initialize()
        let arena = CStringArena()
        var request = mn_sc_request()
        request.reference_path = arena(referencePath)
        request.rows = UInt16(image.rows)
        request.columns = UInt16(image.columns)
        if let plane {
            let s = plane.source
            request.source = s.cFrame(in: arena)
            request.has_plane = 1
            request.position = (s.position.x, s.position.y, s.position.z)
            let (r, c) = (plane.rowDirection, plane.columnDirection)
            request.orientation = (r.x, r.y, r.z, c.x, c.y, c.z)
            request.pixel_spacing = (plane.pixelSpacing.x, plane.pixelSpacing.y)
            request.slice_thickness = plane.sliceThickness
            request.frame_of_reference_uid = arena(plane.frameOfReferenceUID)
        }
        request.derivation_description = arena(derivation)
        request.identify(series, equipment, in: arena)
        try withExtendedLifetime(arena) { () throws(DICOMError) in
            try image.pixels.withUnsafeBufferPointer { rgb throws(DICOMError) in
                request.rgb = rgb.baseAddress
                try shimCall(path: path) { mn_sc_write(&request, path, $0) }
            }
        }
    }
}
