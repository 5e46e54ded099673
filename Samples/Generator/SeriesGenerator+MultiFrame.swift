import DICOM
import Foundation

extension SeriesGenerator {
    /// Writes every slice (and echo) as a frame of one Enhanced CT Image (PS3.3 A.38) or Enhanced
    /// MR Image (A.36). Orientation and Pixel Measures go in the Shared Functional Groups; Plane
    /// Position, Frame Content and (with `perFrameRescale`) Pixel Value Transformation per frame
    /// (C.7.6.16.2). Frames are in instance order: slice-major, echo-minor.
    func writeMultiFrame(to directory: String, ids: Written, uids: UIDGenerator) throws -> Written {
        var frames: [(slice: Int, echo: Int)] = []
        for k in 0..<slices where !omittedSlices.contains(k) {
            for e in 0..<echoes { frames.append((k, e)) }
            if duplicatedSlices.contains(k) { frames.append((k, 0)) }
        }
        if fileOrder == .reversed { frames.reverse() }
        let isCT = modality == .ct
        let ds = try commonDataSet(ids: ids, uids: uids)
        let frameType = isCT ? "ORIGINAL\\PRIMARY\\AXIAL\\NONE" : "ORIGINAL\\PRIMARY\\VOLUME\\NONE"
        try ds.set(.imageType, frameType)
        try ds.set(.sopClassUID, isCT ? "1.2.840.10008.5.1.4.1.1.2.1" : "1.2.840.10008.5.1.4.1.1.4.1")
        try ds.set(.instanceNumber, 1)
        try ds.set(.contentDate, "20260101")
        try ds.set(.contentTime, "120000")
        try ds.set(.acquisitionDateTime, "20260101120000")
        try ds.set(.contentQualification, "PRODUCT")
        try ds.set(.burnedInAnnotation, "NO")
        try ds.set(.lossyImageCompression, "00")
        try ds.set(.presentationLUTShape, monochrome1 ? "INVERSE" : "IDENTITY")
        try ds.set(.pixelPresentation, "MONOCHROME")
        try ds.set(.volumetricProperties, "VOLUME")
        try ds.set(.volumeBasedCalculationTechnique, "NONE")
        try setPixelModule(ds, frames: frames.count)

        // Multi-frame Dimension Module (C.7.6.17): frames indexed by stack and position in it.
        let organization = uids.make()
        try ds.appendItem(to: .dimensionOrganizationSequence).set(.dimensionOrganizationUID, organization)
        for pointer in [Tag.stackID, Tag.inStackPositionNumber] {
            let index = try ds.appendItem(to: .dimensionIndexSequence)
            try index.set(.dimensionOrganizationUID, organization)
            try index.set(.dimensionIndexPointer, pointer.description)
            try index.set(.functionalGroupPointer, Tag.frameContentSequence.description)
        }

        let shared = try ds.appendItem(to: .sharedFunctionalGroupsSequence)
        let measures = try shared.appendItem(to: .pixelMeasuresSequence)
        try measures.set(.pixelSpacing, [pixelSpacing.row, pixelSpacing.column])
        try measures.set(.sliceThickness, sliceSpacing)
        let r = rowDirection, c = columnDirection
        try shared.appendItem(to: .planeOrientationSequence).set(
            .imageOrientationPatient, [r.x, r.y, r.z, c.x, c.y, c.z])
        if !perFrameRescale { try setPixelValueTransformation(shared, rescale: rescale(ofSlice: 0)) }
        try shared.appendItem(to: isCT ? .ctImageFrameTypeSequence : .mrImageFrameTypeSequence).set(
            .frameType, frameType)

        var words: [UInt16] = []
        words.reserveCapacity(frames.count * rows * columns)
        for frame in frames {
            let item = try ds.appendItem(to: .perFrameFunctionalGroupsSequence)
            let content = try item.appendItem(to: .frameContentSequence)
            try content.set(.frameAcquisitionNumber, 1)
            try content.set(.frameReferenceDateTime, "20260101120000")
            try content.set(.frameAcquisitionDateTime, "20260101120000")
            try content.set(.frameAcquisitionDuration, 100)
            try content.set(.stackID, "\(frame.echo + 1)")
            try content.set(.inStackPositionNumber, frame.slice + 1)
            try content.set(.dimensionIndexValues, "\(frame.echo + 1)\\\(frame.slice + 1)")
            let p = position(ofSlice: frame.slice)
            try item.appendItem(to: .planePositionSequence).set(.imagePositionPatient, [p.x, p.y, p.z])
            if perFrameRescale { try setPixelValueTransformation(item, rescale: rescale(ofSlice: frame.slice)) }
            if !isCT, echoes > 1 {
                try item.appendItem(to: .mrEchoSequence).set(.effectiveEchoTime, Double(10 * (frame.echo + 1)))
            }
            words += storedPixels(slice: frame.slice, echo: frame.echo).map {
                UInt16(truncatingIfNeeded: $0).littleEndian
            }
        }
        try words.withUnsafeBytes { try ds.setPixelData($0, bitsAllocated: 16) }
        let path = directory + "/" + "MF00001.dcm"
        try ds.write(to: path, transferSyntax: transferSyntax)
        var written = ids
        written.files = [path]
        return written
    }

    /// Pixel Value Transformation (C.7.6.16.2.9): Rescale in a functional group item.
    private func setPixelValueTransformation(_ group: DataSet, rescale: (slope: Double, intercept: Double)) throws {
        let item = try group.appendItem(to: .pixelValueTransformationSequence)
        try item.set(.rescaleIntercept, rescale.intercept)
        try item.set(.rescaleSlope, rescale.slope)
        try item.set(.rescaleType, modality == .ct ? "HU" : "US")
    }
}
