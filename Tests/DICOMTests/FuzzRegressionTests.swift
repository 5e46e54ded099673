import DICOM
import Foundation
import Testing

/// The inputs the fuzzer found (Tests/Fixtures/fuzz/), replayed through the Swift
/// API on every test run: each is read and every frame decoded; the outcome may be data or a
/// DICOMError, never a crash, and the two crash inputs are refused as corrupt.
@Suite struct FuzzRegressionTests {
    static let folder = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
        .appendingPathComponent("Fixtures/fuzz/dataset").path

    static var inputs: [String] {
        ((try? FileManager.default.contentsOfDirectory(atPath: folder)) ?? []).sorted()
    }

    /// Reads the file and decodes every frame; the first error, or nil.
    static func replay(_ path: String) -> DICOMError? {
        do throws(DICOMError) {
            let dataSet = try DataSet.read(contentsOf: path)
            let info = try dataSet.pixelInfo()
            for frame in 0..<min(info.numberOfFrames, 8) { _ = try dataSet.decodeFrame(frame) }
            return nil
        } catch {
            return error
        }
    }

    @Test func everyInputIsReadOrRefusedWithoutCrashing() {
        #expect(Self.inputs.count >= 4)
        for name in Self.inputs { _ = Self.replay(Self.folder + "/" + name) }
    }

    @Test(arguments: ["crash-gdcm-bits-stored-vr", "crash-dcmtk-rle-offsets", "crash-gdcm-j2k-siz-rows"])
    func crashInputsAreRefusedAsCorrupt(name: String) throws {
        let error = try #require(Self.replay(Self.folder + "/" + name))
        #expect(error.code == .corrupt, "\(error)")
    }

    /// A JPEG 2000 file whose File Meta Information made GDCM's parser abort: DCMTK reads it, and
    /// GDCM decodes the well-formed extract it is given instead.
    @Test func aMalformedMetaHeaderNoLongerReachesGDCM() {
        #expect(Self.replay(Self.folder + "/crash-gdcm-meta-assert") == nil)
    }
}
