import DICOM

/// A coded concept: Code Value, Coding Scheme Designator and Code Meaning (PS3.3 Table 8.8-1a).
///
/// Construction does not throw, so well-known codes can be constants; the builders that take a
/// code (``SegmentDescription``, ``MeasurementReport``) validate it and name the sequence it
/// was meant for.
///
/// ```swift
/// let liver = CodedConcept("10200004", "SCT", "Liver")
/// ```
public struct CodedConcept: Sendable, Hashable, CustomStringConvertible {
    public var value: String
    public var scheme: String
    public var meaning: String

    public init(_ value: String, _ scheme: String, _ meaning: String) {
        self.value = value
        self.scheme = scheme
        self.meaning = meaning
    }

    public var description: String { "(\(value), \(scheme), \"\(meaning)\")" }

    /// Throws `.badValue` naming `field` when a component is empty or too long (Code Value is SH,
    /// 16 characters; Coding Scheme Designator SH; Code Meaning LO, 64 characters).
    func validate(as field: Tag) throws(DICOMError) {
        func check(_ text: String, _ name: String, _ limit: Int) throws(DICOMError) {
            if text.isEmpty {
                throw DICOMError(.badValue, "\(field.described): \(name) is empty in \(self)", tag: field)
            }
            if text.count > limit || text.contains("\\") {
                throw DICOMError(
                    .badValue,
                    "\(field.described): \(name) longer than \(limit) characters or contains '\\' in \(self)",
                    tag: field)
            }
        }
        try check(value, "Code Value", 16)
        try check(scheme, "Coding Scheme Designator", 16)
        try check(meaning, "Code Meaning", 64)
    }
}

public extension CodedConcept {
    // CID 7150 Segmentation Property Categories (PS3.16).
    static let tissue = CodedConcept("85756007", "SCT", "Tissue")
    static let anatomicalStructure = CodedConcept("123037004", "SCT", "Anatomical Structure")
    static let morphologicallyAbnormalStructure = CodedConcept("49755003", "SCT", "Morphologically Abnormal Structure")
    // CID 7162 Surface Processing Algorithm Families.
    static let artificialIntelligence = CodedConcept("123109", "DCM", "Artificial Intelligence")
}
