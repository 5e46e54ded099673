import Foundation

/// One generated test file.
public struct SyntheticInstance: Sendable, Hashable {
    public var path: String
    public var sopInstanceUID: String

    public init(path: String, sopInstanceUID: String) {
        self.path = path
        self.sopInstanceUID = sopInstanceUID
    }
}

/// Generates synthetic (no real patient) DICOM files at test time with DCMTK's tools; nothing
/// binary is committed (docs/style-guide.md §8).
///
/// A CT slice is written once with `dump2dcm` from a text dump whose UIDs contain fixed-width
/// placeholders; the series is then made by patching the placeholders in the header bytes, which
/// is much faster than one `dump2dcm` per slice.
public enum SyntheticInstances {
    static let root = "1.2.826.0.1.3680043.10.543"
    static let runPlaceholder = "999999" // a UID component: run id (6 digits, no leading 0)
    static let indexPlaceholder = "888888" // a UID component: 100000 + index
    static let numberPlaceholder = "777777" // Instance Number (IS) and z position (DS), space padded

    /// A series of `count` CT slices (rows × columns, 16 bits allocated, 12 stored) in `directory`,
    /// named `<prefix>NNNNN.dcm`. All slices share a study and series; SOP Instance UIDs are unique
    /// per call.
    public static func ctSeries(
        count: Int, rows: Int = 64, columns: Int = 64, in directory: String,
        prefix: String = "ct"
    ) throws -> [SyntheticInstance] {
        let template = try ctTemplate(rows: rows, columns: columns, in: directory)
        let run = String(Int.random(in: 100_000...999_999))
        var instances: [SyntheticInstance] = []
        instances.reserveCapacity(count)
        for index in 0..<count {
            var bytes = template
            let uidIndex = String(100_000 + index)
            let number = String(repeating: " ", count: max(0, 6 - String(index + 1).count)) + String(index + 1)
            patch(&bytes, runPlaceholder, with: run)
            patch(&bytes, indexPlaceholder, with: uidIndex)
            patch(&bytes, numberPlaceholder, with: number)
            let path = directory + "/" + prefix + String(format: "%05d", index) + ".dcm"
            try Data(bytes).write(to: URL(fileURLWithPath: path))
            instances.append(SyntheticInstance(path: path, sopInstanceUID: "\(root).\(run).\(uidIndex)"))
        }
        return instances
    }

    /// Writes a compressed copy of `source` with a DCMTK/GDCM tool. Same SOP Instance UID (lossy
    /// encoders would assign a new one; `+un` keeps it, as a test needs).
    public static func compressed(
        _ source: SyntheticInstance, as syntax: CompressedSyntax,
        to path: String
    ) throws -> SyntheticInstance {
        switch syntax {
        case .jpegLosslessSV1: try runToolChecked("dcmcjpeg", ["+e1", source.path, path])
        case .jpegBaseline: try runToolChecked("dcmcjpeg", ["+eb", "+un", source.path, path])
        case .jpegExtended: try runToolChecked("dcmcjpeg", ["+ee", "+un", source.path, path])
        case .jpegLSLossless: try runToolChecked("dcmcjpls", ["+el", source.path, path])
        case .jpegLSNearLossless: try runToolChecked("dcmcjpls", ["+en", "+un", source.path, path])
        case .rle: try runToolChecked("dcmcrle", [source.path, path])
        case .jpeg2000Lossless: try runToolChecked("gdcmconv", ["--j2k", source.path, path])
        }
        return SyntheticInstance(path: path, sopInstanceUID: source.sopInstanceUID)
    }

    public enum CompressedSyntax: String, CaseIterable, Sendable {
        case jpegLosslessSV1, jpegBaseline, jpegExtended, jpegLSLossless, jpegLSNearLossless, rle, jpeg2000Lossless

        public var transferSyntaxUID: String {
            switch self {
            case .jpegLosslessSV1: return "1.2.840.10008.1.2.4.70"
            case .jpegBaseline: return "1.2.840.10008.1.2.4.50"
            case .jpegExtended: return "1.2.840.10008.1.2.4.51"
            case .jpegLSLossless: return "1.2.840.10008.1.2.4.80"
            case .jpegLSNearLossless: return "1.2.840.10008.1.2.4.81"
            case .rle: return "1.2.840.10008.1.2.5"
            case .jpeg2000Lossless: return "1.2.840.10008.1.2.4.90"
            }
        }

        /// The `storescu` option that proposes this transfer syntax.
        public var storescuOption: String {
            switch self {
            case .jpegLosslessSV1: return "-xs"
            case .jpegBaseline: return "-xy"
            case .jpegExtended: return "-xx"
            case .jpegLSLossless: return "-xt"
            case .jpegLSNearLossless: return "-xu"
            case .rle: return "-xr"
            case .jpeg2000Lossless: return "-xv"
            }
        }
    }

    /// A minimal Segmentation-like object (SOP class Segmentation Storage, 1-bit pixel data):
    /// enough for storage tests, not a valid SEG IOD.
    public static func segmentationLike(in directory: String, name: String = "seg.dcm") throws -> SyntheticInstance {
        let uid = "\(root).\(Int.random(in: 100_000...999_999)).7"
        let dump = """
            (0002,0010) UI =LittleEndianExplicit
            (0008,0016) UI =SegmentationStorage
            (0008,0018) UI [\(uid)]
            (0008,0060) CS [SEG]
            (0020,000d) UI [\(root).1]
            (0020,000e) UI [\(root).\(Int.random(in: 100_000...999_999)).8]
            (0028,0002) US 1
            (0028,0004) CS [MONOCHROME2]
            (0028,0008) IS [1]
            (0028,0010) US 8
            (0028,0011) US 8
            (0028,0100) US 1
            (0028,0101) US 1
            (0028,0102) US 0
            (0028,0103) US 0
            (7fe0,0010) OB 00\\ff\\00\\ff\\00\\ff\\00\\ff
            """
        let dumpPath = directory + "/" + name + ".txt"
        try dump.write(toFile: dumpPath, atomically: true, encoding: .utf8)
        defer { try? FileManager.default.removeItem(atPath: dumpPath) }
        let path = directory + "/" + name
        try runToolChecked("dump2dcm", [dumpPath, path])
        return SyntheticInstance(path: path, sopInstanceUID: uid)
    }

    /// The bytes of a Part 10 file's data set (after the preamble and the meta header): what a
    /// byte-identical transfer must preserve, whatever meta header the receiver writes.
    public static func datasetBytes(of path: String) throws -> Data {
        let data = try Data(contentsOf: URL(fileURLWithPath: path))
        guard data.count > 144, data[128..<132] == Data("DICM".utf8),
            data[132..<136] == Data([0x02, 0x00, 0x00, 0x00])
        else {
            throw ToolError("\(path): no Part 10 meta header with group length")
        }
        let length = data[140..<144].enumerated().reduce(0) { $0 | Int($1.element) << (8 * $1.offset) }
        return data.subdata(in: (144 + length)..<data.count)
    }

    private static func ctTemplate(rows: Int, columns: Int, in directory: String) throws -> [UInt8] {
        var pixels = Data(capacity: rows * columns * 2)
        for i in 0..<(rows * columns) {
            let value = UInt16((i * 7) % 4096)
            pixels.append(UInt8(value & 0xFF))
            pixels.append(UInt8(value >> 8))
        }
        let pixelPath = directory + "/.template-pixels.raw"
        try pixels.write(to: URL(fileURLWithPath: pixelPath))
        let dump = """
            (0002,0010) UI =LittleEndianExplicit
            (0008,0016) UI =CTImageStorage
            (0008,0018) UI [\(root).\(runPlaceholder).\(indexPlaceholder)]
            (0008,0060) CS [CT]
            (0010,0010) PN [Synthetic^Phantom]
            (0010,0020) LO [SYNTH]
            (0020,000d) UI [\(root).\(runPlaceholder).1]
            (0020,000e) UI [\(root).\(runPlaceholder).2]
            (0020,0013) IS [\(numberPlaceholder)]
            (0020,0032) DS [-100\\-100\\\(numberPlaceholder)]
            (0020,0037) DS [1\\0\\0\\0\\1\\0]
            (0028,0002) US 1
            (0028,0004) CS [MONOCHROME2]
            (0028,0010) US \(rows)
            (0028,0011) US \(columns)
            (0028,0030) DS [0.5\\0.5]
            (0028,0100) US 16
            (0028,0101) US 12
            (0028,0102) US 11
            (0028,0103) US 0
            (0028,1052) DS [-1024]
            (0028,1053) DS [1]
            (7fe0,0010) OW =\(pixelPath)
            """
        let dumpPath = directory + "/.template.txt"
        let outPath = directory + "/.template.dcm"
        try dump.write(toFile: dumpPath, atomically: true, encoding: .utf8)
        try runToolChecked("dump2dcm", [dumpPath, outPath])
        let bytes = try [UInt8](Data(contentsOf: URL(fileURLWithPath: outPath)))
        for path in [pixelPath, dumpPath, outPath] { try? FileManager.default.removeItem(atPath: path) }
        return bytes
    }

    /// Replaces every occurrence of `placeholder` in the header (before the pixel data) with
    /// `replacement` of the same length.
    private static func patch(_ bytes: inout [UInt8], _ placeholder: String, with replacement: String) {
        let needle = Array(placeholder.utf8), value = Array(replacement.utf8)
        precondition(needle.count == value.count)
        let end = min(bytes.count - needle.count, 2048)
        var i = 0
        while i <= end {
            if bytes[i] == needle[0] && Array(bytes[i..<(i + needle.count)]) == needle {
                bytes.replaceSubrange(i..<(i + needle.count), with: value)
                i += needle.count
            } else {
                i += 1
            }
        }
    }
}
