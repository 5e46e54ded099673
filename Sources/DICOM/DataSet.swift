import CDICOM
import Foundation

/// A DICOM data set read from a Part 10 file, created empty for writing, or a view of a sequence
/// item inside another data set (which it keeps alive).
///
/// Reading is lenient (DCMTK's defaults); every accessor that fails throws a `DICOMError` naming
/// the file and the tag. Not thread-safe: use one `DataSet` per task.
public final class DataSet {
    let handle: OpaquePointer
    /// The file this data set (or the item's root) was read from, for error messages.
    public let path: String?

    init(handle: OpaquePointer, path: String?) {
        self.handle = handle
        self.path = path
    }

    deinit { mn_dataset_free(handle) }

    /// Reads a Part 10 file. With `headerOnly`, parsing stops before Pixel Data (fast metadata
    /// extraction; pixel access then fails).
    public static func read(contentsOf path: String, headerOnly: Bool = false) throws(DICOMError) -> DataSet {
        DICOMLibrary.initialize()
        var out: OpaquePointer?
        try shimCall(path: path) { mn_dataset_open(path, headerOnly ? 1 : 0, &out, $0) }
        return DataSet(handle: out!, path: path)
    }

    /// A new, empty data set.
    public init() {
        DICOMLibrary.initialize()
        var out: OpaquePointer?
        let status = mn_dataset_create(&out, nil)
        precondition(status == MN_OK && out != nil, "mn_dataset_create failed")
        handle = out!
        path = nil
    }

    /// The transfer syntax the file was read in.
    public var transferSyntax: TransferSyntax? {
        var out: UnsafeMutablePointer<CChar>?
        guard mn_dataset_transfer_syntax(handle, &out, nil) == MN_OK, let out else { return nil }
        defer { mn_string_free(out) }
        return TransferSyntax(uid: String(cString: out))
    }

    public func contains(_ tag: Tag) -> Bool { mn_dataset_has(handle, tag.rawValue) != 0 }

    // MARK: Reading values

    /// The element's value as text (multiple values joined by `\`), or nil when absent.
    public func string(_ tag: Tag) throws(DICOMError) -> String? {
        guard contains(tag) else { return nil }
        var out: UnsafeMutablePointer<CChar>?
        try shimCall(path: path) { mn_dataset_get_string(handle, tag.rawValue, &out, $0) }
        defer { mn_string_free(out) }
        return String(cString: out!)
    }

    /// The element's value as text; throws `.missingTag` naming the tag when absent or empty.
    public func requiredString(_ tag: Tag) throws(DICOMError) -> String {
        guard let value = try string(tag), !value.isEmpty else {
            throw DICOMError(.missingTag, "missing \(tag.described)", tag: tag, path: path)
        }
        return value
    }

    /// The individual values of a multi-valued text element (split on `\`), nil when absent.
    public func strings(_ tag: Tag) throws(DICOMError) -> [String]? {
        try string(tag).map { $0.split(separator: "\\", omittingEmptySubsequences: false).map { $0.trimmingSpaces } }
    }

    /// All numeric values (DS, IS, FL, FD, US, SS, UL, SL); nil when absent or empty, throws
    /// `.badValue` when a value does not parse.
    public func doubles(_ tag: Tag) throws(DICOMError) -> [Double]? {
        guard contains(tag) else { return nil }
        var count = 0
        var values = [Double](repeating: 0, count: 16)
        var detail = mn_error()
        var status = mn_dataset_get_float64s(handle, tag.rawValue, &values, values.count, &count, &detail)
        if status == MN_OK, count > values.count {
            values = [Double](repeating: 0, count: count)
            status = mn_dataset_get_float64s(handle, tag.rawValue, &values, values.count, &count, &detail)
        }
        if status == MN_ERR_MISSING_TAG { return nil }
        if status != MN_OK { throw DICOMError(detail, path: path) }
        return Array(values.prefix(count))
    }

    /// The first numeric value, or nil when absent or empty.
    public func double(_ tag: Tag) throws(DICOMError) -> Double? { try doubles(tag)?.first }

    /// The first numeric value as an integer, or nil when absent; throws when it is not integral.
    public func int(_ tag: Tag) throws(DICOMError) -> Int? {
        guard let d = try double(tag) else { return nil }
        guard d.rounded() == d, abs(d) < 1e15 else {
            throw DICOMError(.badValue, "\(tag.described) value \(d) is not an integer", tag: tag, path: path)
        }
        return Int(d)
    }

    /// The items of a sequence ([] for an empty one), or nil when the sequence is absent.
    public func items(_ tag: Tag) throws(DICOMError) -> [DataSet]? {
        guard contains(tag) else { return nil }
        var count = 0
        try shimCall(path: path) { mn_dataset_sequence_count(handle, tag.rawValue, &count, $0) }
        var items: [DataSet] = []
        items.reserveCapacity(count)
        for index in 0..<count {
            var out: OpaquePointer?
            try shimCall(path: path) { mn_dataset_sequence_item(handle, tag.rawValue, index, &out, $0) }
            items.append(DataSet(handle: out!, path: path))
        }
        return items
    }

    /// The first item of a sequence, or nil when the sequence is absent or empty.
    public func firstItem(_ tag: Tag) throws(DICOMError) -> DataSet? { try items(tag)?.first }

    /// The top-level elements in order with their VR (for dumps and comparisons).
    public var elements: [(tag: Tag, vr: String)] {
        let count = mn_dataset_element_count(handle)
        var result: [(tag: Tag, vr: String)] = []
        for index in 0..<count {
            var raw: UInt32 = 0
            var vr: (CChar, CChar, CChar) = (0, 0, 0)
            let status = withUnsafeMutablePointer(to: &vr) { p in
                p.withMemoryRebound(to: CChar.self, capacity: 3) { mn_dataset_element_at(handle, index, &raw, $0, nil) }
            }
            guard status == MN_OK else { continue }
            result.append(
                (Tag(raw), String(decoding: [UInt8(bitPattern: vr.0), UInt8(bitPattern: vr.1)], as: UTF8.self)))
        }
        return result
    }

    // MARK: Writing

    /// Sets an element from text (VR from the data dictionary, `\` between multiple values).
    public func set(_ tag: Tag, _ value: String) throws(DICOMError) {
        try shimCall(path: path) { mn_dataset_set_string(handle, tag.rawValue, value, $0) }
    }

    /// Sets a numeric element from numbers (written as text: DS/IS use their text form, binary VRs
    /// are parsed by DCMTK).
    public func set(_ tag: Tag, _ values: [Double]) throws(DICOMError) {
        try set(tag, values.map(DataSet.decimalString).joined(separator: "\\"))
    }

    public func set(_ tag: Tag, _ value: Int) throws(DICOMError) { try set(tag, String(value)) }

    public func set(_ tag: Tag, _ value: Double) throws(DICOMError) { try set(tag, [value]) }

    /// Appends an empty item to a sequence (created when absent) and returns it for writing.
    @discardableResult
    public func appendItem(to tag: Tag) throws(DICOMError) -> DataSet {
        var out: OpaquePointer?
        try shimCall(path: path) { mn_dataset_sequence_append(handle, tag.rawValue, &out, $0) }
        return DataSet(handle: out!, path: path)
    }

    /// Sets native Pixel Data from little-endian bytes (OB for 8-bit, OW otherwise).
    public func setPixelData(_ bytes: UnsafeRawBufferPointer, bitsAllocated: Int) throws(DICOMError) {
        try shimCall(path: path) {
            mn_dataset_set_pixel_data(handle, bytes.baseAddress, bytes.count, Int32(bitsAllocated), $0)
        }
    }

    /// Writes a Part 10 file in `transferSyntax` (compressing with DCMTK when the syntax is JPEG,
    /// JPEG-LS or RLE). SOP Class and Instance UID must be set; the meta header is made from them.
    public func write(to path: String, transferSyntax: TransferSyntax = .explicitVRLittleEndian) throws(DICOMError) {
        try shimCall(path: path) { mn_dataset_write(handle, path, transferSyntax.uid, $0) }
    }

    /// DS values: at most 16 characters (PS3.5 §6.2).
    static func decimalString(_ value: Double) -> String {
        if value == value.rounded(), abs(value) < 1e15 { return String(Int64(value)) }
        var text = String(value)
        if text.count > 16 {
            for digits in stride(from: 15, through: 1, by: -1) {
                text = String(format: "%.\(digits)g", value)
                if text.count <= 16 { break }
            }
        }
        return text
    }
}

extension Tag {
    /// `(0020,0032) ImagePositionPatient`, the form used in error messages.
    public var described: String {
        if let keyword { return "\(self) \(keyword)" }
        return description
    }
}

extension Substring {
    var trimmingSpaces: String {
        var s = self
        while s.first == " " { s = s.dropFirst() }
        while s.last == " " || s.last == "\0" { s = s.dropLast() }
        return String(s)
    }
}
