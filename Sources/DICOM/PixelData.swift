import CDICOM

/// How the samples of an image are stored (PS3.3 C.7.6.3 Image Pixel Module).
public struct PixelInfo: Sendable, Equatable {
    public var rows: Int
    public var columns: Int
    public var samplesPerPixel: Int
    public var bitsAllocated: Int
    public var bitsStored: Int
    public var highBit: Int
    /// True for two's complement samples (Pixel Representation 1).
    public var isSigned: Bool
    public var numberOfFrames: Int
    /// As stored in the header (a decoder may have turned YBR into RGB).
    public var photometricInterpretation: String
    /// True when the Pixel Data is encapsulated (compressed).
    public var isEncapsulated: Bool

    public var samplesPerFrame: Int { rows * columns * samplesPerPixel }

    /// The range stored values can take, from Bits Stored and Pixel Representation.
    public var storedRange: ClosedRange<Int> {
        isSigned ? -(1 << (bitsStored - 1))...((1 << (bitsStored - 1)) - 1) : 0...((1 << bitsStored) - 1)
    }
}

extension DataSet {
    /// The pixel storage description; throws naming the tag when Rows/Columns/Bits Allocated are
    /// missing or the combination is unsupported.
    public func pixelInfo() throws(DICOMError) -> PixelInfo {
        var info = mn_pixel_info()
        try shimCall(path: path) { mn_dataset_pixel_info(handle, &info, $0) }
        let photometric = withUnsafeBytes(of: &info.photometric) { raw in
            String(decoding: raw.prefix(while: { $0 != 0 }), as: UTF8.self)
        }
        return PixelInfo(
            rows: Int(info.rows), columns: Int(info.columns), samplesPerPixel: Int(info.samples_per_pixel),
            bitsAllocated: Int(info.bits_allocated), bitsStored: Int(info.bits_stored),
            highBit: Int(info.high_bit), isSigned: info.pixel_representation == 1,
            numberOfFrames: Int(info.number_of_frames), photometricInterpretation: photometric,
            isEncapsulated: info.encapsulated != 0)
    }

    /// Decodes one frame (0-based) to stored values: masked to Bits Stored, sign-extended when
    /// signed, colour samples interleaved. No rescale and no MONOCHROME1 inversion.
    public func decodeFrame(_ frame: Int, into buffer: UnsafeMutableBufferPointer<Int32>) throws(DICOMError) {
        try shimCall(path: path) {
            mn_dataset_decode_frame(handle, UInt32(frame), buffer.baseAddress, buffer.count, $0)
        }
    }

    /// Decodes one frame (0-based) into a new array; see `decodeFrame(_:into:)`.
    public func decodeFrame(_ frame: Int) throws(DICOMError) -> [Int32] {
        let info = try pixelInfo()
        var values = [Int32](repeating: 0, count: info.samplesPerFrame)
        var failure: DICOMError?
        values.withUnsafeMutableBufferPointer { buffer in
            do throws(DICOMError) { try decodeFrame(frame, into: buffer) } catch { failure = error }
        }
        if let failure { throw failure }
        return values
    }
}
