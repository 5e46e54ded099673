import CDICOM
import CDICOMObjects
import DICOM

/// Writes a BINARY Segmentation (PS3.3 A.51) of a label map or per-segment masks on the grid of
/// the source frames: patient, study and Frame of Reference from the source, a new series, one
/// segment per ``SegmentDescription``, every frame with its plane position, segment and the exact
/// source instance (and frame) it derives from, empty frames omitted by default.
///
/// Everything is checked when the writer is made; `write(to:)` fails only on I/O or a DCMTK
/// refusal.
///
/// ```swift
/// let writer = try SegmentationWriter(
///     grid: grid, pixels: .labels(labelMap), segments: [liver, spleen],
///     series: SeriesIdentity(uids: uids, seriesNumber: 901, seriesDescription: "AI segmentation"),
///     content: ContentIdentity(label: "SEGMENTATION"),
///     equipment: EquipmentIdentity(deviceSerialNumber: "node-1", softwareVersions: "0.1"),
///     uids: uids)
/// let written = try writer.write(to: "/var/out/seg.dcm")
/// ```
public struct SegmentationWriter: Sendable {
    public let grid: SourceImageGrid
    public let pixels: SegmentationPixels
    /// Sorted by segment number, which runs 1, 2, … n.
    public let segments: [SegmentDescription]
    public let series: SeriesIdentity
    public let content: ContentIdentity
    public let equipment: EquipmentIdentity
    /// Leave out frames where the segment has no voxel (PS3.3 C.8.20.2 allows it; viewers and
    /// PACS storage prefer it).
    public var omitEmptyFrames: Bool
    let dimensionOrganizationUID: String

    /// What was written: enough for the report to reference the SEG and its segments.
    public struct Written: Sendable {
        public var path: String
        public var sopClassUID: String
        public var sopInstanceUID: String
        public var seriesInstanceUID: String
        /// Per frame: segment number and index of the source frame in the grid.
        public var frames: [(segment: Int, source: Int)]
    }

    public static let sopClassUID = "1.2.840.10008.5.1.4.1.1.66.4"

    /// - Throws: `.badValue` or `.argument` naming the field: segment numbers not 1…n, a label map
    ///   or mask whose size differs from the grid, a label value with no segment description.
    public init(
        grid: SourceImageGrid, pixels: SegmentationPixels, segments: [SegmentDescription],
        series: SeriesIdentity, content: ContentIdentity, equipment: EquipmentIdentity,
        uids: UIDGenerator, omitEmptyFrames: Bool = true
    ) throws(DICOMError) {
        let sorted = segments.sorted { $0.number < $1.number }
        guard !sorted.isEmpty else {
            throw DICOMError(.argument, "a segmentation needs at least one segment", tag: .segmentSequence)
        }
        // PS3.3 C.8.20.2: the first segment is number 1 and the numbers increase by 1.
        for (index, segment) in sorted.enumerated() where segment.number != index + 1 {
            throw DICOMError(
                .badValue,
                "\(Tag.segmentNumber.described) values must be 1…\(sorted.count) without gaps or repeats, found \(segment.number) at position \(index + 1)",
                tag: .segmentNumber)
        }
        try Self.check(pixels, against: grid, segmentCount: sorted.count)
        self.grid = grid
        self.pixels = pixels
        self.segments = sorted
        self.series = series
        self.content = content
        self.equipment = equipment
        self.omitEmptyFrames = omitEmptyFrames
        self.dimensionOrganizationUID = uids.make()
    }

    private static func check(
        _ pixels: SegmentationPixels, against grid: SourceImageGrid, segmentCount: Int
    ) throws(DICOMError) {
        let expected = grid.voxelCount
        let shape = "\(grid.sliceCount) slices × \(grid.rows) rows × \(grid.columns) columns = \(expected)"
        func checkCount(_ count: Int, _ what: String) throws(DICOMError) {
            guard count == expected else {
                throw DICOMError(
                    .argument, "\(what) has \(count) voxels but the source grid has \(shape)", tag: .pixelData)
            }
        }
        func checkLabel(_ maxLabel: Int) throws(DICOMError) {
            guard maxLabel <= segmentCount else {
                throw DICOMError(
                    .badValue,
                    "label value \(maxLabel) has no segment description (\(Tag.segmentNumber.described) 1…\(segmentCount) described)",
                    tag: .segmentNumber)
            }
        }
        switch pixels {
        case .labels(let map):
            try checkCount(map.count, "the label map")
            try checkLabel(Int(map.max() ?? 0))
        case .labels16(let map):
            try checkCount(map.count, "the label map")
            try checkLabel(Int(map.max() ?? 0))
        case .masks(let masks):
            guard masks.count == segmentCount else {
                throw DICOMError(
                    .argument, "\(masks.count) masks for \(segmentCount) segment descriptions", tag: .segmentSequence)
            }
            for (index, mask) in masks.enumerated() { try checkCount(mask.count, "the mask of segment \(index + 1)") }
        }
    }

    /// Writes the SEG (Explicit VR Little Endian) to `path`.
    @discardableResult
    public func write(to path: String) throws(DICOMError) -> Written {
        DICOMLibrary.initialize()
        let frames = SegmentationFrames(
            pixels: pixels, segmentCount: segments.count, slices: grid.sliceCount,
            pixelsPerSlice: grid.rows * grid.columns, omitEmpty: omitEmptyFrames)
        try writeFrames(frames, to: path, throughDCMSEG: false)
        return written(frames, at: path)
    }

    func written(_ frames: SegmentationFrames, at path: String) -> Written {
        Written(
            path: path, sopClassUID: Self.sopClassUID, sopInstanceUID: series.sopInstanceUID,
            seriesInstanceUID: series.seriesInstanceUID,
            frames: zip(frames.segments, frames.sources).map { (Int($0), Int($1)) })
    }

    /// Builds the shim request (the strings live in `arena`) and calls it.
    func writeFrames(_ frames: SegmentationFrames, to path: String, throughDCMSEG: Bool) throws(DICOMError) {
        let arena = CStringArena()
        func code(_ c: CodedConcept?) -> mn_code {
            guard let c else { return mn_code(value: nil, scheme: nil, meaning: nil) }
            return mn_code(value: arena(c.value), scheme: arena(c.scheme), meaning: arena(c.meaning))
        }
        let cSegments = segments.map { s -> mn_seg_segment in
            let lab = s.displayColor?.dicomValues ?? [0, 0, 0]
            return mn_seg_segment(
                label: arena(s.label), description: arena(s.description), category: code(s.category),
                type: code(s.type),
                type_modifier: code(s.typeModifier), algorithm_type: arena(s.algorithmType.rawValue),
                algorithm_name: arena(s.algorithm?.name), algorithm_version: arena(s.algorithm?.version),
                algorithm_family: code(s.algorithm?.family), has_cielab: s.displayColor == nil ? 0 : 1,
                cielab: (lab[0], lab[1], lab[2]), tracking_id: arena(s.tracking?.identifier),
                tracking_uid: arena(s.tracking?.uid))
        }
        let cSources = grid.frames.map { $0.cFrame(in: arena) }
        let r = grid.rowDirection, c = grid.columnDirection
        var request = mn_seg_request()
        request.reference_path = arena(grid.referencePath)
        request.rows = UInt16(grid.rows)
        request.columns = UInt16(grid.columns)
        request.orientation = (r.x, r.y, r.z, c.x, c.y, c.z)
        request.pixel_spacing = (grid.pixelSpacing.row, grid.pixelSpacing.column)
        request.slice_thickness = grid.sliceThickness
        request.spacing_between_slices = grid.spacingBetweenSlices ?? 0
        request.identify(series, equipment, in: arena)
        request.dimension_organization_uid = arena(dimensionOrganizationUID)
        request.content_label = arena(content.label)
        request.content_description = arena(content.description)
        request.content_creator = arena(content.creator)
        request.frames_through_dcmseg = throughDCMSEG ? 1 : 0
        try withExtendedLifetime(arena) { () throws(DICOMError) in
            try cSegments.withUnsafeBufferPointer { segs throws(DICOMError) in
                try cSources.withUnsafeBufferPointer { srcs throws(DICOMError) in
                    try frames.segments.withUnsafeBufferPointer { fSegs throws(DICOMError) in
                        try frames.sources.withUnsafeBufferPointer { fSrcs throws(DICOMError) in
                            try frames.packed.withUnsafeBufferPointer { packed throws(DICOMError) in
                                request.segments = segs.baseAddress
                                request.segment_count = segs.count
                                request.sources = srcs.baseAddress
                                request.source_count = srcs.count
                                request.frame_segments = fSegs.baseAddress
                                request.frame_sources = fSrcs.baseAddress
                                request.frame_count = fSegs.count
                                request.packed_frames = packed.baseAddress
                                request.packed_length = packed.count
                                try shimCall(path: path) { mn_seg_write(&request, path, $0) }
                            }
                        }
                    }
                }
            }
        }
    }
}
