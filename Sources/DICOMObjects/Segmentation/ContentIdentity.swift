import DICOM

/// Content Identification Macro (PS3.3 C.10.9): what a person sees as the SEG's name in a viewer.
public struct ContentIdentity: Sendable, Hashable {
    /// Content Label (0070,0080): a Code String, upper-case letters, digits, space and `_`, at most
    /// 16 characters (PS3.5 6.2).
    public var label: String
    public var description: String?
    /// Content Creator's Name (0070,0084), a Person Name such as `MambaNode^nnMamba`.
    public var creator: String?

    public init(label: String, description: String? = nil, creator: String? = nil) throws(DICOMError) {
        let allowed = label.utf8.allSatisfy {
            ($0 >= 0x41 && $0 <= 0x5A) || ($0 >= 0x30 && $0 <= 0x39) || $0 == 0x20 || $0 == 0x5F
        }
        guard !label.isEmpty, label.utf8.count <= 16, allowed else {
            throw DICOMError(
                .badValue, "\(Tag.contentLabel.described) must be 1…16 of A–Z, 0–9, space and '_'", tag: .contentLabel)
        }
        if let description { try checkLongString(description, .contentDescription, required: false) }
        if let creator, creator.utf8.count > 64 || creator.contains("\\") {
            throw DICOMError(
                .badValue, "\(Tag.contentCreatorName.described) must be a Person Name of at most 64 characters",
                tag: .contentCreatorName)
        }
        self.label = label
        self.description = description
        self.creator = creator
    }
}
