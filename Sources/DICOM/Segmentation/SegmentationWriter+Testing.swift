extension SegmentationWriter {
    /// Test hook: writes the same SEG but hands every frame to dcmseg, which packs it itself, so
    /// that tests can check the packed path against dcmseg's own (node.md §11).
    package func writeThroughDCMSEG(to path: String) throws(DICOMError) -> Written {
        let frames = SegmentationFrames(pixels: pixels, segmentCount: segments.count, slices: grid.sliceCount,
                                        pixelsPerSlice: grid.rows * grid.columns, omitEmpty: omitEmptyFrames)
        try writeFrames(frames, to: path, throughDCMSEG: true)
        return Written(path: path, sopClassUID: Self.sopClassUID, sopInstanceUID: series.sopInstanceUID,
                       seriesInstanceUID: series.seriesInstanceUID,
                       frames: zip(frames.segments, frames.sources).map { (Int($0), Int($1)) })
    }
}
