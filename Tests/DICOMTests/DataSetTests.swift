import Foundation
import SeededRandom
import TestSupport
import Testing

@testable import DICOM

@Suite struct DataSetTests {
    @Test func writesAndReadsValues() throws {
        let dir = TemporaryDirectory()
        let path = dir.file("ct.dcm")
        try SyntheticImage.write(
            SyntheticImage.ctSlice(rows: 4, columns: 6), rows: 4, columns: 6, bitsAllocated: 16,
            bitsStored: 16, signed: true, modality: "CT", to: path)
        let ds = try DataSet.read(contentsOf: path)
        #expect(try ds.string(.modality) == "CT")
        #expect(try ds.doubles(.pixelSpacing) == [0.7, 0.9])
        #expect(try ds.doubles(.imageOrientationPatient) == [1, 0, 0, 0, 1, 0])
        #expect(try ds.int(.rows) == 4)
        #expect(try ds.string(.seriesDescription) == nil)
        #expect(ds.transferSyntax == .explicitVRLittleEndian)
        let info = try ds.pixelInfo()
        #expect(
            info
                == PixelInfo(
                    rows: 4, columns: 6, samplesPerPixel: 1, bitsAllocated: 16, bitsStored: 16, highBit: 15,
                    isSigned: true, numberOfFrames: 1, photometricInterpretation: "MONOCHROME2",
                    isEncapsulated: false))
        let header = try DataSet.read(contentsOf: path, headerOnly: true)
        #expect(!header.contains(.pixelData))
        #expect(throws: DICOMError.self) { try header.decodeFrame(0) }
    }

    @Test func sequencesAndItems() throws {
        let dir = TemporaryDirectory()
        let path = dir.file("seq.dcm")
        let ds = DataSet()
        try ds.set(.sopClassUID, "1.2.840.10008.5.1.4.1.1.2.1")
        try ds.set(.sopInstanceUID, "1.2.3.4")
        for z in 0..<3 {
            let frame = try ds.appendItem(to: .perFrameFunctionalGroupsSequence)
            try frame.appendItem(to: .planePositionSequence).set(.imagePositionPatient, [0, 0, Double(z) * 2.5])
        }
        try ds.write(to: path)
        let read = try DataSet.read(contentsOf: path)
        let frames = try #require(try read.items(.perFrameFunctionalGroupsSequence))
        #expect(frames.count == 3)
        let positions = try frames.map { try $0.firstItem(.planePositionSequence)?.doubles(.imagePositionPatient) }
        #expect(positions == [[0, 0, 0], [0, 0, 2.5], [0, 0, 5]])
        #expect(try read.items(.sharedFunctionalGroupsSequence) == nil)
        // A non-sequence asked for items is a typed error naming the tag.
        let error = #expect(throws: DICOMError.self) { try read.items(.sopInstanceUID) }
        #expect(error?.tag == .sopInstanceUID)
    }

    @Test func missingFileNamesThePath() throws {
        let error = #expect(throws: DICOMError.self) { try DataSet.read(contentsOf: "/nonexistent/x.dcm") }
        #expect(error?.code == .io)
        #expect(error?.description.contains("/nonexistent/x.dcm") == true)
    }

    @Test func garbageIsNotDICOM() throws {
        let dir = TemporaryDirectory()
        let path = dir.file("garbage.bin")
        var rng = SplitMix64(seed: 7)
        let bytes = (0..<4000).map { _ in UInt8(truncatingIfNeeded: rng.next()) }
        try Data(bytes).write(to: URL(fileURLWithPath: path))
        let error = #expect(throws: DICOMError.self) { try DataSet.read(contentsOf: path) }
        #expect(error?.path == path)
        #expect([.notDICOM, .corrupt].contains(error?.code))
    }

    @Test func truncatedPixelDataIsCorrupt() throws {
        let dir = TemporaryDirectory()
        let path = dir.file("ct.dcm")
        try SyntheticImage.write(
            SyntheticImage.ctSlice(rows: 64, columns: 64), rows: 64, columns: 64, bitsAllocated: 16,
            bitsStored: 16, signed: true, modality: "CT", to: path)
        let data = try Data(contentsOf: URL(fileURLWithPath: path))
        try data.prefix(data.count - 3000).write(to: URL(fileURLWithPath: path))
        // DCMTK may refuse the file or read a short Pixel Data; either way a typed error, no crash.
        let error = #expect(throws: DICOMError.self) { try DataSet.read(contentsOf: path).decodeFrame(0) }
        #expect(error?.path == path)
    }

    @Test func truncatedCompressedFrameIsAnError() throws {
        let dir = TemporaryDirectory()
        let original = dir.file("o.dcm"), compressed = dir.file("c.dcm")
        try SyntheticImage.write(
            SyntheticImage.ctSlice(rows: 64, columns: 64), rows: 64, columns: 64, bitsAllocated: 16,
            bitsStored: 16, signed: true, modality: "CT", to: original)
        try ExternalTool.check("dcmcjpeg", ["+e1", original, compressed])
        let data = try Data(contentsOf: URL(fileURLWithPath: compressed))
        try data.prefix(data.count - 1500).write(to: URL(fileURLWithPath: compressed))
        #expect(throws: DICOMError.self) { try DataSet.read(contentsOf: compressed).decodeFrame(0) }
    }

    @Test func frameOutOfRange() throws {
        let dir = TemporaryDirectory()
        let path = dir.file("mr.dcm")
        try SyntheticImage.write(
            SyntheticImage.mrSlice(rows: 8, columns: 8), rows: 8, columns: 8, bitsAllocated: 8,
            bitsStored: 8, signed: false, modality: "MR", to: path)
        let error = #expect(throws: DICOMError.self) { try DataSet.read(contentsOf: path).decodeFrame(1) }
        #expect(error?.code == .argument)
    }

    @Test func keywordsComeFromTheDictionary() throws {
        #expect(try Tag(keyword: "SeriesDescription") == .seriesDescription)
        #expect(Tag.imagePositionPatient.keyword == "ImagePositionPatient")
        #expect(Tag.imagePositionPatient.description == "(0020,0032)")
        #expect(throws: DICOMError.self) { try Tag(keyword: "NoSuchAttribute") }
    }
}

@Suite struct UIDTests {
    @Test(arguments: ["1.2.840.10008.1.2", "2.25.329800735698586629295641978511506172918", "0", "1.0.2"])
    func valid(uid: String) { #expect(UID.isValid(uid)) }

    @Test(arguments: [
        "", "1..2", ".1.2", "1.2.", "1.02", "../../etc/passwd", "1.2.a", String(repeating: "1", count: 65)
    ])
    func invalid(uid: String) { #expect(!UID.isValid(uid)) }

    @Test func generatedUIDsAreValidAndUnique() throws {
        for root in [nil, "1.2.826.0.1.3680043.10.543"] {
            let generator = try UIDGenerator(root: root)
            let uids = (0..<200).map { _ in generator.make() }
            #expect(Set(uids).count == uids.count)
            for uid in uids {
                #expect(UID.isValid(uid), "\(uid)")
                #expect(uid.hasPrefix((root ?? "2.25") + "."))
            }
        }
        #expect(throws: DICOMError.self) { try UIDGenerator(root: "1.2.x") }
    }

    @Test func decimalOfUUIDBytes() {
        #expect(UIDGenerator.decimal([UInt8](repeating: 0, count: 16)) == "0")
        #expect(UIDGenerator.decimal([UInt8](repeating: 0xFF, count: 16)) == "340282366920938463463374607431768211455")
    }
}
