import DICOM

/// One source frame a segmentation frame is derived from: a single-frame instance, or frame
/// `frameNumber` (1-based) of an enhanced multi-frame instance.
public struct SourceFrame: Sendable, Hashable {
    public var sopClassUID: String
    public var sopInstanceUID: String
    /// nil for a single-frame instance.
    public var frameNumber: Int?
    /// Image Position (Patient) of the frame's first voxel, LPS mm.
    public var position: SIMD3<Double>

    public init(sopClassUID: String, sopInstanceUID: String, frameNumber: Int? = nil, position: SIMD3<Double>) {
        self.sopClassUID = sopClassUID
        self.sopInstanceUID = sopInstanceUID
        self.frameNumber = frameNumber
        self.position = position
    }
}

/// The grid a label map lives on: the source frames in slice order and their shared geometry.
/// This is the writer's whole view of the source; the `Volume` module produces it from a series.
///
/// Pixel Spacing is (row spacing, column spacing): the distance between rows first (PS3.3
/// C.7.6.2.1.1).
public struct SourceImageGrid: Sendable {
    public var rows: Int
    public var columns: Int
    /// Direction cosines of a row and of a column (Image Orientation (Patient)).
    public var rowDirection: SIMD3<Double>
    public var columnDirection: SIMD3<Double>
    public var pixelSpacing: (row: Double, column: Double)
    public var sliceThickness: Double
    /// Distance between slice centres; nil when not regular.
    public var spacingBetweenSlices: Double?
    public var frames: [SourceFrame]
    /// A source file to copy patient, study and Frame of Reference from (read header-only).
    public var referencePath: String

    public var sliceCount: Int { frames.count }
    public var voxelCount: Int { rows * columns * frames.count }

    /// - Throws: `.badValue` naming the attribute: empty grid, non-unit or non-orthogonal
    ///   direction cosines, non-positive spacing, invalid UIDs or frame numbers.
    public init(
        rows: Int, columns: Int, rowDirection: SIMD3<Double>, columnDirection: SIMD3<Double>,
        pixelSpacing: (row: Double, column: Double), sliceThickness: Double, spacingBetweenSlices: Double? = nil,
        frames: [SourceFrame], referencePath: String
    ) throws(DICOMError) {
        guard (1...65535).contains(rows) else {
            throw DICOMError(.badValue, "\(Tag.rows.described) must be 1…65535", tag: .rows)
        }
        guard (1...65535).contains(columns) else {
            throw DICOMError(.badValue, "\(Tag.columns.described) must be 1…65535", tag: .columns)
        }
        func unit(_ v: SIMD3<Double>) -> Bool { abs((v * v).sum() - 1) < 1e-4 }
        guard unit(rowDirection), unit(columnDirection), abs((rowDirection * columnDirection).sum()) < 1e-4 else {
            throw DICOMError(
                .badValue, "\(Tag.imageOrientationPatient.described) must be two orthogonal unit vectors",
                tag: .imageOrientationPatient)
        }
        guard pixelSpacing.row > 0, pixelSpacing.column > 0 else {
            throw DICOMError(.badValue, "\(Tag.pixelSpacing.described) must be positive", tag: .pixelSpacing)
        }
        guard sliceThickness > 0 else {
            throw DICOMError(.badValue, "\(Tag.sliceThickness.described) must be positive", tag: .sliceThickness)
        }
        if let spacingBetweenSlices, spacingBetweenSlices <= 0 {
            throw DICOMError(
                .badValue, "\(Tag.spacingBetweenSlices.described) must be positive", tag: .spacingBetweenSlices)
        }
        guard !frames.isEmpty else {
            throw DICOMError(.argument, "the source grid has no frames", tag: .sourceImageSequence)
        }
        for (index, frame) in frames.enumerated() {
            guard UID.isValid(frame.sopClassUID), UID.isValid(frame.sopInstanceUID) else {
                throw DICOMError(
                    .badValue,
                    "source frame \(index + 1): \(Tag.referencedSOPInstanceUID.described) or its class is not a valid UID",
                    tag: .referencedSOPInstanceUID)
            }
            if let n = frame.frameNumber, !(1...65535).contains(n) {
                throw DICOMError(
                    .badValue, "source frame \(index + 1): \(Tag.referencedFrameNumber.described) must be 1…65535",
                    tag: .referencedFrameNumber)
            }
        }
        self.rows = rows
        self.columns = columns
        self.rowDirection = rowDirection
        self.columnDirection = columnDirection
        self.pixelSpacing = pixelSpacing
        self.sliceThickness = sliceThickness
        self.spacingBetweenSlices = spacingBetweenSlices
        self.frames = frames
        self.referencePath = referencePath
    }

    /// Volume of one voxel in mm³ (slice spacing, else thickness, along the normal).
    public var voxelVolume: Double {
        pixelSpacing.row * pixelSpacing.column * (spacingBetweenSlices ?? sliceThickness)
    }
}
