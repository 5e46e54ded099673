/// What ``ResultEncoder`` wrote: the files with the UIDs the outbox and the PACS know them by,
/// and the measured segments.
public struct EncodedResult: Sendable {
    /// SEG first (when there is one), then SR.
    public var objects: [EncodedObject]
    /// Per SEG segment, its voxel count and volume; empty for reports without a SEG.
    public var segments: [SegmentVolume]
}

/// One written DICOM object.
public struct EncodedObject: Sendable, Hashable {
    public enum Kind: String, Sendable {
        case segmentation = "SEG"
        case report = "SR"
        case structureSet = "RTSTRUCT"
    }

    public var kind: Kind
    public var path: String
    public var sopClassUID: String
    public var sopInstanceUID: String
    public var seriesInstanceUID: String
    public var seriesNumber: Int
}

/// The size of one SEG segment: voxels on the source grid × voxel volume.
public struct SegmentVolume: Sendable, Hashable {
    public var segmentNumber: Int
    public var label: String
    public var voxelCount: Int
    public var cubicMillimetres: Double

    /// Millilitres (1 mL = 1000 mm³).
    public var millilitres: Double { cubicMillimetres / 1000 }
}
