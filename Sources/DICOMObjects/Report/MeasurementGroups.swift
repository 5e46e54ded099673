import DICOM

/// The volume of one SEG segment (TID 1411): tracking identifier and UID, finding (the segment's
/// property type), referenced segment, volume in mm³ (UCUM `mm3`).
public struct VolumeMeasurement: Sendable {
    public var segmentNumber: Int
    public var finding: CodedConcept
    public var tracking: TrackingIdentity
    /// Cubic millimetres.
    public var volume: Double

    /// - Throws: `.badValue` when the segment has no tracking identity (TID 1411 requires one) or
    ///   the volume is negative or not finite.
    public init(segment: SegmentDescription, volume: Double) throws(DICOMError) {
        guard let tracking = segment.tracking else {
            throw DICOMError(
                .badValue,
                "segment \(segment.number) has no \(Tag.trackingID.described) and \(Tag.trackingUID.described), which TID 1411 requires",
                tag: .trackingID)
        }
        guard volume.isFinite, volume >= 0 else {
            throw DICOMError(
                .badValue, "the volume of segment \(segment.number) must be a finite value ≥ 0 mm³", tag: .segmentNumber
            )
        }
        segmentNumber = segment.number
        finding = segment.type
        self.tracking = tracking
        self.volume = volume
    }
}

/// A classification result (TID 1501): a qualitative evaluation whose concept is what was
/// classified and whose value is the class (e.g. (111042, DCM, "Pathology") = (86049000, SCT,
/// "Malignant neoplasm")), and the class probability as a numeric measurement (DCM 122157
/// "Probability", UCUM `1`).
///
/// The concept must not be (121071, DCM, "Finding"): TID 1501 has a Finding row of its own, and
/// readers such as highdicom take a second Finding item for a malformed group.
public struct Classification: Sendable {
    public var concept: CodedConcept
    public var value: CodedConcept
    public var probability: Double?
    public var tracking: TrackingIdentity

    public init(
        concept: CodedConcept, value: CodedConcept, probability: Double?, tracking: TrackingIdentity
    ) throws(DICOMError) {
        if concept.value == "121071", concept.scheme == "DCM" {
            throw DICOMError(
                .badValue, "a classification's concept must name what was classified, not (121071, DCM, Finding)",
                tag: .conceptNameCodeSequence)
        }
        try value.validate(as: .conceptNameCodeSequence)
        try concept.validate(as: .conceptNameCodeSequence)
        if let probability, !(0...1).contains(probability) {
            throw DICOMError(.badValue, "the probability of \(value) must be within 0…1", tag: .conceptNameCodeSequence)
        }
        self.concept = concept
        self.value = value
        self.probability = probability
        self.tracking = tracking
    }
}

/// A landmark (TID 1501): its coded concept and a SCOORD3D POINT in the source Frame of
/// Reference (LPS mm). `name` is its Tracking Identifier and the key distances use.
public struct Landmark: Sendable {
    public var name: String
    public var concept: CodedConcept
    public var position: SIMD3<Double>
    public var trackingUID: String

    public init(name: String, concept: CodedConcept, position: SIMD3<Double>, trackingUID: String) throws(DICOMError) {
        _ = try TrackingIdentity(identifier: name, uid: trackingUID)
        try concept.validate(as: .conceptNameCodeSequence)
        guard position.x.isFinite, position.y.isFinite, position.z.isFinite else {
            throw DICOMError(.badValue, "landmark '\(name)' has a non-finite position", tag: .trackingID)
        }
        self.name = name
        self.concept = concept
        self.position = position
        self.trackingUID = trackingUID
    }
}

/// The distance between two named landmarks, in mm (TID 1501/300, inferred from both points).
public struct LandmarkDistance: Sendable {
    public var from: String
    public var to: String
    public var tracking: TrackingIdentity

    public init(from: String, to: String, tracking: TrackingIdentity) {
        self.from = from
        self.to = to
        self.tracking = tracking
    }
}
