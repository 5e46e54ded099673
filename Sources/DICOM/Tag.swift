import CDICOM

/// A DICOM attribute tag (group, element), printed as `(GGGG,EEEE)` like DCMTK and the standard.
public struct Tag: Hashable, Comparable, Sendable, CustomStringConvertible {
    public let rawValue: UInt32

    public init(_ rawValue: UInt32) { self.rawValue = rawValue }
    public init(_ group: UInt16, _ element: UInt16) { rawValue = UInt32(group) << 16 | UInt32(element) }

    public var group: UInt16 { UInt16(rawValue >> 16) }
    public var element: UInt16 { UInt16(rawValue & 0xFFFF) }

    public var description: String {
        let hex = { (v: UInt16) in
            let s = String(v, radix: 16, uppercase: true)
            return String(repeating: "0", count: 4 - s.count) + s
        }
        return "(\(hex(group)),\(hex(element)))"
    }

    public static func < (a: Tag, b: Tag) -> Bool { a.rawValue < b.rawValue }

    /// Parses `(0008,0060)`, `0008,0060` or `00080060`.
    public init?(hexadecimal text: String) {
        let digits = text.filter { $0.isHexDigit }
        guard digits.count == 8, text.allSatisfy({ $0.isHexDigit || "(),".contains($0) }),
            let raw = UInt32(digits, radix: 16)
        else { return nil }
        self.init(raw)
    }
}

public extension Tag {
    /// Resolves a PS3.6 keyword (e.g. `SeriesDescription`) through DCMTK's data dictionary.
    init(keyword: String) throws(DICOMError) {
        var raw: UInt32 = 0
        try shimCall { mn_tag_for_keyword(keyword, &raw, $0) }
        self.init(raw)
    }

    /// The PS3.6 keyword, when DCMTK's dictionary knows the tag.
    var keyword: String? {
        var out: UnsafeMutablePointer<CChar>?
        guard mn_tag_keyword(rawValue, &out, nil) == MN_OK, let out else { return nil }
        defer { mn_string_free(out) }
        return String(cString: out)
    }
}
