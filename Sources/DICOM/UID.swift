import CDICOM
import Foundation

/// DICOM unique identifiers (PS3.5 §9): validation and generation.
public enum UID {
    /// DCMTK's name of a well-known UID (e.g. "CTImageStorage"), or nil.
    public static func name(of uid: String) -> String? {
        mn_uid_name(uid).map { String(cString: $0) }
    }

    /// True when `text` is a valid UID: 1–64 characters, digits and dots, no empty component, no
    /// leading zero in a multi-digit component. Used before a UID names anything on disk.
    public static func isValid(_ text: String) -> Bool {
        let bytes = Array(text.utf8)
        guard !bytes.isEmpty, bytes.count <= 64 else { return false }
        var componentStart = 0
        for (i, b) in bytes.enumerated() {
            if b == UInt8(ascii: ".") {
                if i == componentStart { return false }
                componentStart = i + 1
            } else if b >= UInt8(ascii: "0"), b <= UInt8(ascii: "9") {
                if i > componentStart, bytes[componentStart] == UInt8(ascii: "0") { return false }
            } else {
                return false
            }
        }
        return componentStart < bytes.count
    }
}

/// Makes new UIDs under a configurable root. The default root `2.25` turns a random UUID into a
/// decimal integer (PS3.5 §B.2), which needs no registered organisation root.
public struct UIDGenerator: Sendable {
    public let root: String

    /// - Parameter root: an organisation root such as `1.2.826.0.1.3680043.10.543`; nil for `2.25`.
    public init(root: String? = nil) throws(DICOMError) {
        let root = root ?? "2.25"
        guard UID.isValid(root), root.utf8.count <= 26 else {
            throw DICOMError(.badValue, "UID root '\(root)' is not a valid UID root of at most 26 characters")
        }
        self.root = root
    }

    /// UIDs under 2.25 derived from a random UUID (PS3.5 B.2), the default without an organisation root.
    public static let uuidDerived = UIDGenerator(checkedRoot: "2.25")

    private init(checkedRoot: String) { root = checkedRoot }

    public func make() -> String {
        let uuid = UUID().uuid
        let bytes = withUnsafeBytes(of: uuid) { Array($0) }
        if root == "2.25" { return "2.25." + UIDGenerator.decimal(bytes) }
        // Under an organisation root, the UUID's decimal digits are cut to fit 64 characters;
        // 38 remaining digits keep >120 bits of randomness for roots up to 25 characters.
        let digits = UIDGenerator.decimal(bytes)
        let room = 64 - root.utf8.count - 1
        var tail = String(digits.suffix(room))
        while tail.count > 1, tail.hasPrefix("0") { tail.removeFirst() }
        return root + "." + tail
    }

    /// The 128-bit big-endian integer in `bytes` as decimal digits.
    static func decimal(_ bytes: [UInt8]) -> String {
        var words = bytes.map { UInt32($0) }
        var digits: [Character] = []
        while words.contains(where: { $0 != 0 }) {
            var remainder: UInt32 = 0
            for i in words.indices {
                let value = remainder << 8 | words[i]
                words[i] = value / 10
                remainder = value % 10
            }
            digits.append(Character(String(remainder)))
        }
        return digits.isEmpty ? "0" : String(digits.reversed())
    }
}
