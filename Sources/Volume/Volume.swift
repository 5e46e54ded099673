/// Voxels on a `Geometry`: the image (or label map) a model reads and a SEG is drawn on.
///
/// Layout: `voxels[(k * size.y + j) * size.x + i]`, i (column) fastest, then j (row), then k
/// (slice), as the DICOM frames are stored; values are modality values (Rescale applied,
/// MONOCHROME1 inverted) as Float32. `sources[k]` names the DICOM frame slice k came from, which
/// a SEG must reference (PS3.3 C.8.20.2 Derivation Image, C.7.6.16.2.6).
///
/// ```swift
/// let assembly = try series.assemble()
/// let volume = assembly.volume
/// let hu = volume[10, 20, 5]
/// let p = volume.geometry.patientPoint(ofIndex: SIMD3(10, 20, 5))
/// try NIfTI.write(volume, to: "/tmp/ct.nii.gz")
/// ```
public struct Volume: Sendable {
    public var geometry: Geometry
    public var voxels: [Float]
    /// The source frame of every slice (k order); empty for volumes not made from DICOM slices
    /// (resampled, read from NIfTI).
    public var sources: [SliceReference]
    public var seriesInstanceUID: String?
    public var frameOfReferenceUID: String?
    /// The series is an MR 3-D acquisition (MR Acquisition Type (0018,0023) 3D, more than one
    /// slice), which dcm2niix stores reoriented (`Geometry.storedByDcm2niix`).
    public var isMR3DAcquisition = false

    public init(
        geometry: Geometry, voxels: [Float], sources: [SliceReference] = [], seriesInstanceUID: String? = nil,
        frameOfReferenceUID: String? = nil
    ) {
        precondition(
            voxels.count == geometry.voxelCount, "voxel count \(voxels.count) ≠ geometry \(geometry.voxelCount)")
        precondition(sources.isEmpty || sources.count == geometry.size.z, "one source per slice")
        self.geometry = geometry
        self.voxels = voxels
        self.sources = sources
        self.seriesInstanceUID = seriesInstanceUID
        self.frameOfReferenceUID = frameOfReferenceUID
    }

    /// A volume of `geometry` filled with `value`.
    public init(geometry: Geometry, filledWith value: Float = 0) {
        self.init(geometry: geometry, voxels: [Float](repeating: value, count: geometry.voxelCount))
    }

    public subscript(i: Int, j: Int, k: Int) -> Float {
        get { voxels[geometry.offset(i, j, k)] }
        set { voxels[geometry.offset(i, j, k)] = newValue }
    }

    /// Smallest and largest voxel value (nil for an empty volume).
    public var valueRange: ClosedRange<Float>? {
        guard var lo = voxels.first else { return nil }
        var hi = lo
        for v in voxels {
            lo = min(lo, v)
            hi = max(hi, v)
        }
        return lo...hi
    }
}

/// The DICOM frame one slice of a volume came from.
public struct SliceReference: Sendable, Codable, Hashable {
    public var sopClassUID: String
    public var sopInstanceUID: String
    /// 1-based frame number within a multi-frame instance; nil for a single-frame instance.
    public var frameNumber: Int?

    public init(sopClassUID: String, sopInstanceUID: String, frameNumber: Int? = nil) {
        self.sopClassUID = sopClassUID
        self.sopInstanceUID = sopInstanceUID
        self.frameNumber = frameNumber
    }
}
