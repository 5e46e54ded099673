import DICOM

extension SegmentationWriter {
    /// Test hook: writes the same SEG but hands every frame to dcmseg, which packs it itself, so
    /// that tests can compare the packed path with dcmseg's own (docs/platform-notes.md §2). dcmseg
    /// 3.6.7 packs frames wrongly when Rows × Columns is not a multiple of 8.
    package func writeThroughDCMSEG(to path: String) throws(DICOMError) -> Written {
        let frames = SegmentationFrames(
            pixels: pixels, segmentCount: segments.count, slices: grid.sliceCount,
            pixelsPerSlice: grid.rows * grid.columns, omitEmpty: omitEmptyFrames)
        try writeFrames(frames, to: path, throughDCMSEG: true)
        return written(frames, at: path)
    }
}
