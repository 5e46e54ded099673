import DICOM
import DICOMObjects
import Foundation
import TestSupport
import Testing

/// SEGs of an enhanced multi-frame source: every frame references the one source instance and
/// the right frame number (PS3.3 C.7.6.16.2.6 Derivation Image, Referenced Frame Number).
@Suite struct SegmentationMultiFrameTests {
    /// Rewrites the fixture's single-frame series as one Enhanced CT instance (frames in slice
    /// order, geometry in functional groups) and returns its path and grid. Enough of the IOD for
    /// a SEG to reference it; not a complete Enhanced CT (dciodvfy is not run on it).
    private func writeEnhancedSource(_ fixture: SegmentationFixture) throws -> (path: String, grid: SourceImageGrid) {
        let first = try DataSet.read(contentsOf: fixture.written.files[0])
        let ds = DataSet()
        let uid = fixture.uids.make()
        let sopClass = "1.2.840.10008.5.1.4.1.1.2.1"
        for tag in [
            Tag.specificCharacterSet, .patientName, .patientID, .patientBirthDate, .patientSex, .studyInstanceUID,
            .studyDate, .studyTime, .studyID, .accessionNumber, .referringPhysicianName, .frameOfReferenceUID,
            .positionReferenceIndicator, .manufacturer
        ] {
            if let value = try first.string(tag) { try ds.set(tag, value) }
        }
        try ds.set(.sopClassUID, sopClass)
        try ds.set(.sopInstanceUID, uid)
        try ds.set(.seriesInstanceUID, fixture.uids.make())
        try ds.set(.modality, "CT")
        try ds.set(.seriesNumber, 2)
        try ds.set(.instanceNumber, 1)
        try ds.set(.imageType, "ORIGINAL\\PRIMARY\\AXIAL\\NONE")
        try ds.set(.samplesPerPixel, 1)
        try ds.set(.photometricInterpretation, "MONOCHROME2")
        try ds.set(.rows, fixture.grid.rows)
        try ds.set(.columns, fixture.grid.columns)
        try ds.set(.bitsAllocated, 16)
        try ds.set(.bitsStored, 16)
        try ds.set(.highBit, 15)
        try ds.set(.pixelRepresentation, 1)
        try ds.set(.numberOfFrames, fixture.grid.sliceCount)
        let shared = try ds.appendItem(to: .sharedFunctionalGroupsSequence)
        let measures = try shared.appendItem(to: .pixelMeasuresSequence)
        try measures.set(.pixelSpacing, [fixture.grid.pixelSpacing.row, fixture.grid.pixelSpacing.column])
        try measures.set(.sliceThickness, fixture.grid.sliceThickness)
        let r = fixture.grid.rowDirection, c = fixture.grid.columnDirection
        try shared.appendItem(to: .planeOrientationSequence).set(
            .imageOrientationPatient, [r.x, r.y, r.z, c.x, c.y, c.z])
        var words: [UInt16] = []
        var frames: [SourceFrame] = []
        for (k, file) in fixture.written.files.enumerated() {
            let p = fixture.grid.frames[k].position
            let item = try ds.appendItem(to: .perFrameFunctionalGroupsSequence)
            try item.appendItem(to: .planePositionSequence).set(.imagePositionPatient, [p.x, p.y, p.z])
            words += try DataSet.read(contentsOf: file).decodeFrame(0).map {
                UInt16(truncatingIfNeeded: $0).littleEndian
            }
            frames.append(SourceFrame(sopClassUID: sopClass, sopInstanceUID: uid, frameNumber: k + 1, position: p))
        }
        try words.withUnsafeBytes { try ds.setPixelData($0, bitsAllocated: 16) }
        let path = fixture.directory.file("enhanced.dcm")
        try ds.write(to: path)
        let g = fixture.grid
        let grid = try SourceImageGrid(
            rows: g.rows, columns: g.columns, rowDirection: g.rowDirection, columnDirection: g.columnDirection,
            pixelSpacing: g.pixelSpacing, sliceThickness: g.sliceThickness,
            spacingBetweenSlices: g.spacingBetweenSlices, frames: frames, referencePath: path)
        return (path, grid)
    }

    @Test func framesReferenceTheSourceFrameNumbers() throws {
        var fixture = try SegmentationFixture()
        let source = try writeEnhancedSource(fixture)
        fixture.grid = source.grid
        let written = try fixture.writer().write(to: fixture.directory.file("seg.dcm"))
        #expect(try Validators.dciodvfyErrors(written.path) == [])
        let seg = try DataSet.read(contentsOf: written.path, headerOnly: true)
        let perFrame = try #require(try seg.items(.perFrameFunctionalGroupsSequence))
        for (item, frame) in zip(perFrame, written.frames) {
            let reference = try #require(try item.firstItem(.derivationImageSequence)?.firstItem(.sourceImageSequence))
            #expect(try reference.string(.referencedSOPInstanceUID) == source.grid.frames[0].sopInstanceUID)
            #expect(try reference.int(.referencedFrameNumber) == frame.source + 1)
        }
        // The Referenced Series names the one multi-frame instance once.
        let series = try #require(try seg.firstItem(.referencedSeriesSequence))
        #expect(try series.items(.referencedInstanceSequence)?.count == 1)
        let readBack = try fixture.readBack(seg: written.path, segmentCount: 4)
        #expect(readBack.status == 0, "\(readBack.output)")
    }
}
