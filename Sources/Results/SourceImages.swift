import DICOM
import DICOMObjects
import Volume

/// The source images a result is drawn on: the SEG writer's ``SourceImageGrid`` (frames in slice
/// order with their exact positions and SOP references), the files for the report's image
/// library, and the volume geometry model outputs must share.
///
/// It is made from a volume's geometry and slice references and the series the volume was
/// assembled from, and refuses grids that are not the source grid: a SEG frame must lie on the
/// pixels of the source frame it references (PS3.3 C.8.20.2, Derivation Image and Plane
/// Position; highdicom indexes SEG frames by source instance on that promise).
///
/// ```swift
/// let series = try Series.scan(directory: "/incoming/ct")[0]
/// let volume = try series.assemble().volume
/// let source = try SourceImages(volume: volume, series: series)
/// print(source.grid.sliceCount, source.files.count)
/// ```
public struct SourceImages: Sendable {
    /// The grid the SEG writer draws on; frame k is slice k of `geometry`.
    public var grid: SourceImageGrid
    /// The volume grid model outputs must be on.
    public var geometry: Geometry
    /// The source files, each once, in order of their first slice (TID 1600 Image Library).
    public var files: [String]
    public var seriesInstanceUID: String
    public var frameOfReferenceUID: String?
    /// Modality (0008,0060) of the source, which chooses the report's Procedure Reported.
    public var modality: String?
    /// The source's pixel values (modality values, e.g. HU) on `geometry`, when the source was
    /// made from a volume: what Secondary Capture overlays draw on; nil for a layout.
    public var volume: Volume?

    /// Largest in-plane distance (mm) between a source slice's Image Position (Patient) and the
    /// volume's slice origin: the default position tolerance of volume assembly, so any volume
    /// assembly accepted without resampling passes.
    public static let positionTolerance = 0.01
    /// Largest difference of direction cosines (assembly's orientation tolerance).
    public static let orientationTolerance = 1e-3
    /// Largest relative difference of Pixel Spacing (assembly's pixel spacing tolerance).
    public static let pixelSpacingTolerance = 1e-4

    /// The source of `volume`, which was assembled from `series`.
    public init(volume: Volume, series: Series) throws(ResultsError) {
        if let uid = volume.seriesInstanceUID, uid != series.seriesInstanceUID {
            throw ResultsError(
                .sourceNotFound, "the volume was assembled from series \(uid), not from this one",
                tag: .seriesInstanceUID, series: series.seriesInstanceUID)
        }
        try self.init(
            geometry: volume.geometry, sources: volume.sources, frameOfReferenceUID: volume.frameOfReferenceUID,
            series: series)
        self.volume = volume
    }

    /// The source of a stack laid out from `series` (`series.stacks().primary.layout(…)`),
    /// without decoding a pixel: all a SEG needs is where the slices are.
    public init(layout: StackLayout, frameOfReferenceUID: String? = nil, series: Series) throws(ResultsError) {
        let sources = layout.slices.map {
            SliceReference(sopClassUID: $0.sopClassUID, sopInstanceUID: $0.sopInstanceUID, frameNumber: $0.frameNumber)
        }
        try self.init(
            geometry: layout.geometry, sources: sources, frameOfReferenceUID: frameOfReferenceUID, series: series)
    }

    /// The source of a grid made from `series`, with one slice reference per slice k.
    ///
    /// - Throws: `.noSourceReferences` when `sources` is empty; `.sourceNotFound` for a reference
    ///   that is not in `series`; `.notSourceGrid` naming the attribute (Rows, Columns, Image
    ///   Orientation, Pixel Spacing, Image Position, Frame of Reference) that differs from the
    ///   source; `.gantryTilt` when slice origins are sheared against the grid.
    public init(
        geometry: Geometry, sources: [SliceReference], frameOfReferenceUID: String? = nil,
        series: Series
    ) throws(ResultsError) {
        let uid = series.seriesInstanceUID
        guard !sources.isEmpty else {
            throw ResultsError(
                .noSourceReferences,
                "the volume names no source slices (it was resampled or read from NIfTI); "
                    + "a segmentation must be drawn on the source grid", tag: .sourceImageSequence, series: uid)
        }
        guard sources.count == geometry.size.z else {
            throw ResultsError(
                .notSourceGrid, "\(sources.count) slice references for \(geometry.size.z) slices",
                tag: .sourceImageSequence, series: uid)
        }
        var byUID: [String: Instance] = [:]
        for instance in series.instances { byUID[instance.sopInstanceUID] = instance }

        var slices: [(instance: Instance, frame: Frame, reference: SliceReference)] = []
        for reference in sources {
            guard let instance = byUID[reference.sopInstanceUID] else {
                throw ResultsError(
                    .sourceNotFound, "a slice of the volume references an instance that is not in the series",
                    tag: .referencedSOPInstanceUID, series: uid, instance: reference.sopInstanceUID)
            }
            let index = (reference.frameNumber ?? 1) - 1
            guard instance.frames.indices.contains(index) else {
                throw ResultsError(
                    .sourceNotFound,
                    "frame \(reference.frameNumber ?? 1) is not among the instance's "
                        + "\(instance.frames.count) frames", tag: .referencedFrameNumber, series: uid,
                    instance: instance.sopInstanceUID)
            }
            slices.append((instance, instance.frames[index], reference))
        }
        let frames = try Self.check(slices, against: geometry, frameOfReferenceUID: frameOfReferenceUID, series: uid)

        var files: [String] = []
        var seen = Set<String>()
        for slice in slices where seen.insert(slice.instance.path).inserted { files.append(slice.instance.path) }
        let first = slices[0].instance
        do throws(DICOMError) {
            grid = try SourceImageGrid(
                rows: geometry.size.y, columns: geometry.size.x, rowDirection: geometry.direction.c0,
                columnDirection: geometry.direction.c1,
                // Pixel Spacing is (row spacing, column spacing): the row spacing is the distance
                // between rows, i.e. along j (PS3.3 C.7.6.2.1.1).
                pixelSpacing: (row: geometry.spacing.y, column: geometry.spacing.x),
                sliceThickness: first.sliceThickness.flatMap { $0 > 0 ? $0 : nil } ?? geometry.spacing.z,
                spacingBetweenSlices: geometry.spacing.z, frames: frames, referencePath: first.path)
        } catch {
            throw ResultsError(
                .notSourceGrid, "the source grid is not writable: \(error.message)", tag: error.tag, series: uid)
        }
        self.geometry = geometry
        self.files = files
        self.seriesInstanceUID = uid
        self.frameOfReferenceUID = frameOfReferenceUID ?? first.frameOfReferenceUID
        self.modality = first.modality
    }

    /// Checks every slice against the grid and returns the SEG source frames, each at the
    /// source's own Image Position (Patient): that is where the frame's pixels are.
    private static func check(
        _ slices: [(instance: Instance, frame: Frame, reference: SliceReference)], against g: Geometry,
        frameOfReferenceUID: String?, series uid: String
    ) throws(ResultsError) -> [SourceFrame] {
        let normal = g.direction.c2
        var frames: [SourceFrame] = []
        var offsets: [SIMD3<Double>] = []
        for (k, slice) in slices.enumerated() {
            let instance = slice.instance
            func refuse(
                _ tag: Tag, _ what: String,
                because: String = "the volume was resampled or reoriented and no longer maps to its source instances"
            )
                -> ResultsError
            {
                ResultsError(
                    .notSourceGrid, "slice \(k + 1) of \(slices.count): \(what); \(because)", tag: tag, series: uid,
                    instance: instance.sopInstanceUID)
            }
            guard let position = slice.frame.position, let orientation = slice.frame.orientation,
                let spacing = slice.frame.pixelSpacing
            else {
                throw refuse(
                    .imagePositionPatient, "the source frame has no plane position, orientation or spacing",
                    because: "a SEG frame cannot be placed on it")
            }
            if let expected = frameOfReferenceUID, let actual = instance.frameOfReferenceUID, expected != actual {
                throw refuse(
                    .frameOfReferenceUID, "the source instance is in another Frame of Reference than the volume",
                    because: "the SEG would not share the source's patient coordinates")
            }
            // Checked before Rows and Columns: a tilt-corrected grid also grows in-plane, and the
            // tilt is what a person needs to hear about.
            guard maxAbs(orientation.row - g.direction.c0) <= orientationTolerance,
                maxAbs(orientation.column - g.direction.c1) <= orientationTolerance
            else {
                throw refuse(
                    .imageOrientationPatient, "the volume's i and j axes are not the source's row and column directions"
                )
            }
            guard abs(spacing.row - g.spacing.y) <= pixelSpacingTolerance * spacing.row,
                abs(spacing.column - g.spacing.x) <= pixelSpacingTolerance * spacing.column
            else {
                throw refuse(
                    .pixelSpacing,
                    "the volume's spacing (j \(g.spacing.y.rounded4), i \(g.spacing.x.rounded4) mm) is not the "
                        + "source's Pixel Spacing (\(spacing.row.rounded4), \(spacing.column.rounded4) mm)")
            }
            let offset = position - g.patientPoint(ofIndex: SIMD3(0, 0, Double(k)))
            let along = dot(offset, normal)
            // Slice spacing may vary within assembly's gap tolerance; half a slice still names
            // the one source slice that voxel plane was decoded from.
            guard abs(along) < g.spacing.z / 2 else {
                throw refuse(
                    .imagePositionPatient,
                    "the source slice lies \(along.rounded4) mm along the normal from the "
                        + "volume's slice")
            }
            offsets.append(offset - normal * along)
            frames.append(
                SourceFrame(
                    sopClassUID: slice.reference.sopClassUID, sopInstanceUID: slice.reference.sopInstanceUID,
                    frameNumber: slice.reference.frameNumber, position: position))
        }
        // In-plane offsets that change from slice to slice are a sheared slice track: gantry
        // tilt corrected by resampling each slice (PS3.3 C.8.2.1.1.2 Gantry/Detector Tilt).
        if let k = offsets.indices.first(where: { maxAbs(offsets[$0] - offsets[0]) > positionTolerance }) {
            let distance = length(offsets[k] - offsets[0]).rounded4
            throw ResultsError(
                .gantryTilt,
                "source slice \(k + 1) of \(offsets.count) is \(distance) mm off the volume's "
                    + "slice axis: the volume was corrected for gantry tilt and its voxels no "
                    + "longer lie on the source pixels", tag: .gantryDetectorTilt, series: uid,
                instance: slices[k].instance.sopInstanceUID)
        }
        if maxAbs(offsets[0]) > positionTolerance {
            throw ResultsError(
                .notSourceGrid,
                "the volume's first voxel is \(length(offsets[0]).rounded4) mm from the source's "
                    + "first pixel: the volume was cropped, padded or resampled", tag: .imagePositionPatient,
                series: uid, instance: slices[0].instance.sopInstanceUID)
        }
        for (k, slice) in slices.enumerated() {
            for (tag, name, source, volume) in [
                (Tag.rows, "rows", slice.instance.pixel.rows, g.size.y),
                (Tag.columns, "columns", slice.instance.pixel.columns, g.size.x)
            ]
            where source != volume {
                throw ResultsError(
                    .notSourceGrid,
                    "slice \(k + 1): the volume has \(volume) \(name) where the source has "
                        + "\(source): the volume was cropped, padded or resampled", tag: tag, series: uid,
                    instance: slice.instance.sopInstanceUID)
            }
        }
        return frames
    }
}
