import DICOM

/// What is segmented, voxel by voxel, on a ``SourceImageGrid`` (slice-major, then row, then
/// column, slices in the grid's frame order).
public enum SegmentationPixels: Sendable {
    /// Label map: value v ≠ 0 belongs to the segment numbered v; 0 is background.
    case labels([UInt8])
    /// Label map with more than 255 labels.
    case labels16([UInt16])
    /// One mask per segment, in segment-number order (segments may overlap); non-zero is inside.
    case masks([[UInt8]])
}
