import DICOM
import Foundation
import TestSupport
import Testing

/// Every supported transfer syntax, produced by DCMTK's or GDCM's own tools
/// from a generated original, decodes to the original's pixels (lossy ones within a bound).
@Suite struct PixelDecodingTests {
    /// A conversion made by an independent tool, with the error it may introduce.
    struct Codec: CustomStringConvertible, Sendable {
        var name: String
        var tool: String
        var arguments: [String]
        var expected: TransferSyntax
        /// nil: lossless (exact). Otherwise the largest allowed |decoded − original| and RMS error.
        var maxError: Int32?
        var maxRMS: Double?
        /// For lossy codecs: the independent decoder whose output ours must equal exactly.
        var referenceDecoder: [String]?
        var description: String { name }
    }

    static let lossless: [Codec] = [
        Codec(name: "implicit LE", tool: "dcmconv", arguments: ["+ti"], expected: .implicitVRLittleEndian),
        Codec(name: "explicit BE", tool: "dcmconv", arguments: ["+tb"], expected: .explicitVRBigEndian),
        Codec(name: "deflated", tool: "dcmconv", arguments: ["+td"], expected: .deflatedExplicitVRLittleEndian),
        Codec(name: "JPEG lossless 14", tool: "dcmcjpeg", arguments: ["+el"], expected: .jpegLossless),
        Codec(name: "JPEG lossless SV1", tool: "dcmcjpeg", arguments: ["+e1"], expected: .jpegLosslessSV1),
        Codec(name: "JPEG-LS lossless", tool: "dcmcjpls", arguments: ["+el"], expected: .jpegLSLossless),
        Codec(name: "RLE", tool: "dcmcrle", arguments: [], expected: .rleLossless),
        Codec(name: "JPEG 2000 lossless", tool: "gdcmconv", arguments: ["--j2k"], expected: .jpeg2000Lossless)
    ]

    // JPEG-LS near-lossless guarantees |error| ≤ NEAR (ITU-T T.87); dcmcjpls uses NEAR = 2.
    static let nearLossless = Codec(
        name: "JPEG-LS near-lossless", tool: "dcmcjpls", arguments: ["+en"],
        expected: .jpegLSNearLossless, maxError: 2, maxRMS: 2, referenceDecoder: ["dcmdjpls"])
    // JPEG 2000 irreversible has no per-sample bound: our decode must equal GDCM's own
    // decompression exactly, and stay within 3 % RMS of the original's range.
    static let jpeg2000Lossy = Codec(
        name: "JPEG 2000 lossy", tool: "gdcmconv", arguments: ["--j2k", "--lossy", "-q", "60"],
        expected: .jpeg2000, maxError: nil, maxRMS: 120, referenceDecoder: ["gdcmconv", "--raw"])

    @Test("16-bit signed CT decodes exactly or within the codec's bound", arguments: lossless + [jpeg2000Lossy])
    func signedCT(codec: Codec) throws {
        let values = SyntheticImage.ctSlice(rows: 64, columns: 80)
        try roundTrip(
            values, rows: 64, columns: 80, bitsAllocated: 16, bitsStored: 16, signed: true, modality: "CT", codec: codec
        )
    }

    @Test(
        "8-bit MR decodes exactly or within the codec's bound",
        arguments: lossless + [
            nearLossless,
            Codec(
                name: "JPEG baseline", tool: "dcmcjpeg", arguments: ["+eb", "+q", "95"], expected: .jpegBaseline,
                maxError: 60, maxRMS: 15, referenceDecoder: ["dcmdjpeg"])
        ])
    func mr8Bit(codec: Codec) throws {
        let values = SyntheticImage.mrSlice(rows: 64, columns: 64)
        try roundTrip(
            values, rows: 64, columns: 64, bitsAllocated: 8, bitsStored: 8, signed: false, modality: "MR", codec: codec)
    }

    @Test("12-bit CT through JPEG extended (process 2 & 4)")
    func jpegExtended12Bit() throws {
        let values = SyntheticImage.ctSlice(rows: 48, columns: 48, bitsStored: 12, signed: false)
        let codec = Codec(
            name: "JPEG extended", tool: "dcmcjpeg", arguments: ["+ee", "+q", "95"], expected: .jpegExtended,
            maxError: 400, maxRMS: 60, referenceDecoder: ["dcmdjpeg"])
        try roundTrip(
            values, rows: 48, columns: 48, bitsAllocated: 16, bitsStored: 12, signed: false, modality: "CT",
            codec: codec)
    }

    // CharLS's near-lossless mode takes unsigned samples only, as most CT scanners store them
    // (12 bits, Rescale Intercept −1024).
    @Test("12-bit unsigned CT through JPEG-LS near-lossless")
    func jpegLSNearLossless12Bit() throws {
        let values = SyntheticImage.ctSlice(rows: 48, columns: 56, bitsStored: 12, signed: false)
        try roundTrip(
            values, rows: 48, columns: 56, bitsAllocated: 16, bitsStored: 12, signed: false, modality: "CT",
            codec: Self.nearLossless)
    }

    @Test("Bits Stored masks bits above High Bit")
    func bitsStoredMasking() throws {
        let dir = TemporaryDirectory()
        // 12 bits stored in 16 allocated, signed: 0xF800 | 0x7FF has garbage above bit 11.
        let raw: [Int32] = [0x07FF, 0x0800, 0xF000 | 0x0001, 0x0FFF]
        try SyntheticImage.write(
            raw, rows: 2, columns: 2, bitsAllocated: 16, bitsStored: 12, signed: true, modality: "CT",
            to: dir.file("a.dcm"))
        let decoded = try DataSet.read(contentsOf: dir.file("a.dcm")).decodeFrame(0)
        #expect(decoded == [2047, -2048, 1, -1])
    }

    func roundTrip(
        _ values: [Int32], rows: Int, columns: Int, bitsAllocated: Int, bitsStored: Int, signed: Bool,
        modality: String, codec: Codec
    ) throws {
        let dir = TemporaryDirectory()
        let original = dir.file("original.dcm"), converted = dir.file("converted.dcm")
        try SyntheticImage.write(
            values, rows: rows, columns: columns, bitsAllocated: bitsAllocated, bitsStored: bitsStored,
            signed: signed, modality: modality, to: original)
        try ExternalTool.check(codec.tool, codec.arguments + [original, converted])

        let decodedOriginal = try DataSet.read(contentsOf: original).decodeFrame(0)
        #expect(decodedOriginal == values, "our writer/reader round trip")

        let dataset = try DataSet.read(contentsOf: converted)
        #expect(dataset.transferSyntax == codec.expected)
        let info = try dataset.pixelInfo()
        #expect(info.rows == rows && info.columns == columns && info.numberOfFrames == 1)
        let decoded = try dataset.decodeFrame(0)
        #expect(decoded.count == values.count)
        guard decoded.count == values.count else { return }
        if codec.maxError == nil && codec.maxRMS == nil {
            let firstDifference = zip(decoded, values).enumerated().first { $0.element.0 != $0.element.1 }
            #expect(firstDifference == nil, "first differing sample: \(String(describing: firstDifference))")
        } else {
            if let decoder = codec.referenceDecoder {
                let reference = dir.file("reference.dcm")
                try ExternalTool.check(decoder[0], Array(decoder.dropFirst()) + [converted, reference])
                let expected = try DataSet.read(contentsOf: reference).decodeFrame(0)
                #expect(decoded == expected, "ours differs from \(decoder[0])")
            }
            let errors = zip(decoded, values).map { Double($0 - $1) }
            let maxError = errors.map(abs).max() ?? 0
            let rms = (errors.map { $0 * $0 }.reduce(0, +) / Double(errors.count)).squareRoot()
            if let bound = codec.maxError { #expect(maxError <= Double(bound), "max error \(maxError)") }
            if let bound = codec.maxRMS { #expect(rms <= bound, "rms \(rms)") }
        }
    }
}
