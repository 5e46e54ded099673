import CDICOM
import CDICOMObjects
import DICOM

/// One ROI of an RT Structure Set (PS3.3 C.8.8.5 Structure Set ROI, C.8.8.6 ROI Contour,
/// C.8.8.8 RT ROI Observations).
public struct StructureSetROI: Sendable, Hashable {
    /// ROI Name (LO: at most 64 characters).
    public var name: String
    public var description: String?
    /// ROI Display Color (RGB).
    public var color: SIMD3<UInt8>
    /// RT ROI Interpreted Type (CS), e.g. ORGAN, PTV, AVOIDANCE (PS3.3 C.8.8.8.1).
    public var interpretedType: String
    /// ROI Generation Description: the algorithm that made it (model name and version).
    public var algorithm: String

    public init(
        name: String, description: String? = nil, color: SIMD3<UInt8>, interpretedType: String, algorithm: String
    ) {
        self.name = name
        self.description = description
        self.color = color
        self.interpretedType = interpretedType
        self.algorithm = algorithm
    }
}

/// One CLOSED_PLANAR contour (PS3.3 C.8.8.6.1): points in patient coordinates (mm), on the plane
/// of the source frame it references.
public struct StructureSetContour: Sendable, Equatable {
    /// Index into ``StructureSetWriter/rois``.
    public var roi: Int
    /// Index of the source frame in the grid.
    public var frame: Int
    public var points: [SIMD3<Double>]

    public init(roi: Int, frame: Int, points: [SIMD3<Double>]) {
        self.roi = roi
        self.frame = frame
        self.points = points
    }
}

/// Writes an RT Structure Set (PS3.3 A.19) whose contours lie on the frames of a source grid:
/// patient and study from the source, a new series, one ROI per ``StructureSetROI``, every contour
/// referencing the exact source image it lies on (Contour Image Sequence), and the Referenced Frame
/// of Reference listing every source image. Radiotherapy planning systems read only this.
///
/// ```swift
/// let writer = try StructureSetWriter(
///     grid: grid, frameOfReferenceUID: forUID, rois: [liver], contours: contours,
///     series: SeriesIdentity(uids: uids, seriesNumber: 903), label: "AI",
///     equipment: EquipmentIdentity(deviceSerialNumber: "node-1", softwareVersions: "0.1"))
/// try writer.write(to: "/var/out/rtstruct.dcm")
/// ```
public struct StructureSetWriter: Sendable {
    public static let sopClassUID = "1.2.840.10008.5.1.4.1.1.481.3"

    public let grid: SourceImageGrid
    public let frameOfReferenceUID: String
    public let rois: [StructureSetROI]
    public let contours: [StructureSetContour]
    public let series: SeriesIdentity
    /// Structure Set Label (SH: 1–16 characters).
    public let label: String
    public let equipment: EquipmentIdentity

    /// - Throws: `.argument` for multi-frame sources (contours would need frame references), a
    ///   contour with fewer than three points or an ROI or frame index out of range; `.badValue`
    ///   for a label or ROI name too long or a Frame of Reference UID that is not a UID.
    public init(
        grid: SourceImageGrid, frameOfReferenceUID: String, rois: [StructureSetROI], contours: [StructureSetContour],
        series: SeriesIdentity, label: String, equipment: EquipmentIdentity
    ) throws(DICOMError) {
        guard UID.isValid(frameOfReferenceUID) else {
            throw DICOMError(.badValue, "the source's Frame of Reference UID is not a UID", tag: .frameOfReferenceUID)
        }
        if let frame = grid.frames.first(where: { $0.frameNumber != nil }) {
            throw DICOMError(
                .argument,
                "RT Structure Set contours on frames of a multi-frame source (\(frame.sopInstanceUID)) are not supported"
            )
        }
        guard !rois.isEmpty else { throw DICOMError(.argument, "a structure set needs at least one ROI") }
        guard (1...16).contains(label.utf8.count) else {
            throw DICOMError(.badValue, "Structure Set Label must be 1–16 characters")
        }
        for roi in rois where roi.name.isEmpty || roi.name.count > 64 {
            throw DICOMError(.badValue, "ROI Name '\(roi.name)' must be 1–64 characters")
        }
        for (n, contour) in contours.enumerated() {
            guard rois.indices.contains(contour.roi), grid.frames.indices.contains(contour.frame),
                contour.points.count >= 3
            else {
                throw DICOMError(
                    .argument,
                    "contour \(n): ROI \(contour.roi), frame \(contour.frame), \(contour.points.count) points")
            }
        }
        self.grid = grid
        self.frameOfReferenceUID = frameOfReferenceUID
        self.rois = rois
        self.contours = contours
        self.series = series
        self.label = label
        self.equipment = equipment
    }

    /// Writes the structure set (Implicit VR Little Endian: a large contour exceeds what an
    /// Explicit VR value holds) to `path`.
    public func write(to path: String) throws(DICOMError) {
        DICOMLibrary.initialize()
        let arena = CStringArena()
        let cImages = grid.frames.map { $0.cFrame(in: arena) }
        let cROIs = rois.map { roi in
            mn_rt_roi(
                name: arena(roi.name), description: arena(roi.description),
                color: (roi.color.x, roi.color.y, roi.color.z),
                interpreted_type: arena(roi.interpretedType), algorithm_name: arena(roi.algorithm))
        }
        var points: [Double] = []
        points.reserveCapacity(contours.reduce(0) { $0 + 3 * $1.points.count })
        let cContours = contours.map { contour -> mn_rt_contour in
            let first = points.count / 3
            for p in contour.points { points += [p.x, p.y, p.z] }
            return mn_rt_contour(
                roi: UInt32(contour.roi), image: UInt32(contour.frame), first_point: first,
                point_count: UInt32(contour.points.count))
        }
        var request = mn_rt_request()
        request.reference_path = arena(grid.referencePath)
        request.frame_of_reference_uid = arena(frameOfReferenceUID)
        request.identify(series, equipment, in: arena)
        request.structure_set_label = arena(label)
        try withExtendedLifetime(arena) { () throws(DICOMError) in
            try cImages.withUnsafeBufferPointer { images throws(DICOMError) in
                try cROIs.withUnsafeBufferPointer { rois throws(DICOMError) in
                    try cContours.withUnsafeBufferPointer { contours throws(DICOMError) in
                        try points.withUnsafeBufferPointer { points throws(DICOMError) in
                            request.images = images.baseAddress
                            request.image_count = images.count
                            request.rois = rois.baseAddress
                            request.roi_count = rois.count
                            request.contours = contours.baseAddress
                            request.contour_count = contours.count
                            request.points = points.baseAddress
                            request.point_count = points.count / 3
                            try shimCall(path: path) { mn_rt_structure_set_write(&request, path, $0) }
                        }
                    }
                }
            }
        }
    }
}
