/// An Application Entity title (PS3.5 Table 6.2-1, VR AE): 1–16 characters of the default
/// character repertoire without backslash or control characters. Leading and trailing spaces
/// are not significant, so they are removed; a title of only spaces is invalid.
///
/// ```swift
/// let ae = try AETitle("MAMBANODE")
/// ```
public struct AETitle: Hashable, Sendable, CustomStringConvertible {
    /// The title without padding.
    public let value: String

    public init(_ text: String) throws(DICOMError) {
        let trimmed = String(text.drop(while: { $0 == " " }).reversed().drop(while: { $0 == " " }).reversed())
        if let problem = AETitle.problem(in: trimmed) {
            throw DICOMError(.badValue, "invalid AE title '\(text)': \(problem)")
        }
        value = trimmed
    }

    /// A title known to be valid when the program is written (a default such as `MAMBANODE`);
    /// checked all the same, in debug builds.
    package init(constant: StaticString) {
        value = "\(constant)"
        assert(AETitle.problem(in: value) == nil, "invalid AE title constant '\(constant)'")
    }

    /// Why `text` (already trimmed) is not a valid AE title, or nil when it is.
    static func problem(in text: String) -> String? {
        if text.isEmpty { return "empty or only spaces" }
        if text.utf8.count > 16 { return "longer than 16 characters" }
        for byte in text.utf8 where byte < 0x20 || byte > 0x7E || byte == UInt8(ascii: "\\") {
            return "contains a control character, a backslash or a non-ASCII character"
        }
        return nil
    }

    public var description: String { value }
}
