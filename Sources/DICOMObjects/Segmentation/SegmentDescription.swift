import DICOM

/// How a segment was made: Segment Algorithm Name (0062,0009) and the Segmentation Algorithm
/// Identification Sequence (0062,0007): family (CID 7162), name and version (PS3.3 C.8.20.2).
public struct AlgorithmIdentification: Sendable, Hashable {
    public var name: String
    public var version: String
    public var family: CodedConcept

    /// Throws when the name or version is empty or longer than a Long String (64 characters).
    public init(name: String, version: String, family: CodedConcept = .artificialIntelligence) throws(DICOMError) {
        try checkLongString(name, .algorithmName, required: true)
        try checkLongString(version, .algorithmVersion, required: true)
        try family.validate(as: .algorithmFamilyCodeSequence)
        self.name = name
        self.version = version
        self.family = family
    }
}

/// Tracking Identifier and Tracking UID of a segment (PS3.3 C.8.20.2), carried on into the TID
/// 1411 measurement group of the report so that both objects name the same finding.
public struct TrackingIdentity: Sendable, Hashable {
    public var identifier: String
    public var uid: String

    public init(identifier: String, uid: String) throws(DICOMError) {
        guard !identifier.isEmpty, identifier.utf8.count <= 64 else {
            throw DICOMError(.badValue, "\(Tag.trackingID.described) must be 1…64 characters", tag: .trackingID)
        }
        guard UID.isValid(uid) else {
            throw DICOMError(.badValue, "\(Tag.trackingUID.described) is not a valid UID", tag: .trackingUID)
        }
        self.identifier = identifier
        self.uid = uid
    }
}

/// One segment of a Segmentation: number, label, what it is (SNOMED CT category and type, CID
/// 7150/7151), how it was made, and how to show it (PS3.3 C.8.20.2, Segment Description Macro).
///
/// Like highdicom's `SegmentDescription`, the value is checked when it is made: a description
/// that exists can be written.
///
/// ```swift
/// let liver = try SegmentDescription(
///     number: 1, label: "Liver",
///     category: .anatomicalStructure, type: CodedConcept("10200004", "SCT", "Liver"),
///     algorithmType: .automatic,
///     algorithm: AlgorithmIdentification(name: "nnMamba abdomen", version: "1.0"),
///     displayColor: CIELabColor(sRGB: (221, 130, 101)))
/// ```
public struct SegmentDescription: Sendable, Hashable {
    public var number: Int
    public var label: String
    public var description: String?
    public var category: CodedConcept
    public var type: CodedConcept
    public var typeModifier: CodedConcept?
    public var algorithmType: SegmentAlgorithmType
    public var algorithm: AlgorithmIdentification?
    public var displayColor: CIELabColor?
    public var tracking: TrackingIdentity?

    /// - Throws: `.badValue` naming the field: Segment Number outside 1…65535, an empty or too
    ///   long label, an incomplete code, or no algorithm identification for an AUTOMATIC or
    ///   SEMIAUTOMATIC segment (PS3.3 C.8.20.2: Segment Algorithm Name is required unless MANUAL).
    public init(
        number: Int, label: String, description: String? = nil,
        category: CodedConcept, type: CodedConcept, typeModifier: CodedConcept? = nil,
        algorithmType: SegmentAlgorithmType, algorithm: AlgorithmIdentification? = nil,
        displayColor: CIELabColor? = nil, tracking: TrackingIdentity? = nil
    ) throws(DICOMError) {
        guard (1...65535).contains(number) else {
            throw DICOMError(
                .badValue, "\(Tag.segmentNumber.described) must be 1…65535, got \(number)", tag: .segmentNumber)
        }
        try checkLongString(label, .segmentLabel, required: true)
        if let description { try checkLongString(description, .segmentDescription, required: false) }
        try category.validate(as: .segmentedPropertyCategoryCodeSequence)
        try type.validate(as: .segmentedPropertyTypeCodeSequence)
        try typeModifier?.validate(as: .segmentedPropertyTypeModifierCodeSequence)
        if algorithmType != .manual, algorithm == nil {
            throw DICOMError(
                .badValue, "\(Tag.segmentAlgorithmName.described) is required for a \(algorithmType.rawValue) segment",
                tag: .segmentAlgorithmName)
        }
        self.number = number
        self.label = label
        self.description = description
        self.category = category
        self.type = type
        self.typeModifier = typeModifier
        self.algorithmType = algorithmType
        self.algorithm = algorithm
        self.displayColor = displayColor
        self.tracking = tracking
    }
}

/// A Long String value (PS3.5 6.2): at most 64 characters, no backslash or control characters.
func checkLongString(_ text: String, _ tag: Tag, required: Bool) throws(DICOMError) {
    if required, text.isEmpty {
        throw DICOMError(.badValue, "\(tag.described) is empty", tag: tag)
    }
    if text.count > 64 || text.contains(where: { $0 == "\\" || $0.asciiValue.map { $0 < 0x20 } == true }) {
        throw DICOMError(
            .badValue, "\(tag.described) must be at most 64 characters without '\\' or control characters", tag: tag)
    }
}
