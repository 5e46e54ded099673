import DICOM

/// The content of a TID 1500 Measurement Report (PS3.16): what was measured, by which algorithm,
/// in which procedure. ``ReportWriter`` turns it into a Comprehensive 3D SR.
///
/// ```swift
/// let report = try MeasurementReport(
///     procedureReported: CodedConcept("77477000", "SCT", "CT"),
///     algorithm: AlgorithmIdentification(name: "nnMamba abdomen", version: "1.0"),
///     observer: DeviceObserver(uid: nodeUID, name: "MAMBANODE"),
///     segmentation: SegmentationReference(writtenSEG, segments: segments),
///     volumes: [VolumeMeasurement(segment: liver, volume: 1_523_000)])
/// ```
public struct MeasurementReport: Sendable {
    public var procedureReported: CodedConcept
    public var algorithm: AlgorithmIdentification
    public var observer: DeviceObserver
    /// The SEG the volumes refer to.
    public var segmentation: SegmentationReference?
    public var volumes: [VolumeMeasurement]
    public var classifications: [Classification]
    public var landmarks: [Landmark]
    public var distances: [LandmarkDistance]
    /// Remarks about the whole report, each a TEXT (121106, DCM, "Comment") in TID 1500 Row 14
    /// (e.g. that a source series may be incomplete). Plain text; empty remarks are refused when
    /// written.
    public var comments: [String] = []

    /// - Throws: `.argument` or `.badValue` naming the field: volumes without a segmentation,
    ///   a distance naming an unknown landmark, duplicate landmark names, an empty report.
    public init(
        procedureReported: CodedConcept, algorithm: AlgorithmIdentification, observer: DeviceObserver,
        segmentation: SegmentationReference? = nil, volumes: [VolumeMeasurement] = [],
        classifications: [Classification] = [], landmarks: [Landmark] = [],
        distances: [LandmarkDistance] = []
    ) throws(DICOMError) {
        try procedureReported.validate(as: .conceptNameCodeSequence)
        if !volumes.isEmpty, segmentation == nil {
            throw DICOMError(
                .argument, "volume measurements need the segmentation they refer to (Referenced Segment, TID 1411)",
                tag: .referencedSegmentNumber)
        }
        for volume in volumes where segmentation?.segmentNumbers.contains(volume.segmentNumber) == false {
            throw DICOMError(
                .badValue, "volume of segment \(volume.segmentNumber), which the segmentation does not have",
                tag: .referencedSegmentNumber)
        }
        var names = Set<String>()
        for landmark in landmarks where !names.insert(landmark.name).inserted {
            throw DICOMError(.badValue, "landmark name '\(landmark.name)' is used twice", tag: .trackingID)
        }
        for distance in distances {
            for name in [distance.from, distance.to] where !names.contains(name) {
                throw DICOMError(
                    .argument,
                    "distance '\(distance.tracking.identifier)' names landmark '\(name)', which is not in the report",
                    tag: .trackingID)
            }
        }
        if volumes.isEmpty, classifications.isEmpty, landmarks.isEmpty {
            throw DICOMError(
                .argument, "a measurement report needs at least one volume, classification or landmark",
                tag: .contentSequence)
        }
        self.procedureReported = procedureReported
        self.algorithm = algorithm
        self.observer = observer
        self.segmentation = segmentation
        self.volumes = volumes
        self.classifications = classifications
        self.landmarks = landmarks
        self.distances = distances
    }
}

/// The device that made the observations (TID 1004): the node, named by its UID and name.
public struct DeviceObserver: Sendable, Hashable {
    public var uid: String
    public var name: String

    public init(uid: String, name: String) throws(DICOMError) {
        guard UID.isValid(uid) else {
            throw DICOMError(.badValue, "Device Observer UID (TID 1004) is not a valid UID", tag: .deviceUID)
        }
        // Device Observer Name is a TEXT content item; kept to a Long String for display.
        guard !name.isEmpty, name.count <= 64 else {
            throw DICOMError(.badValue, "Device Observer Name (TID 1004) must be 1…64 characters")
        }
        self.uid = uid
        self.name = name
    }
}

/// The SEG a report's volumes refer to.
public struct SegmentationReference: Sendable, Hashable {
    public var sopInstanceUID: String
    public var seriesInstanceUID: String
    /// The segment numbers the SEG has.
    public var segmentNumbers: Set<Int>

    public init(_ written: SegmentationWriter.Written, segments: [SegmentDescription]) {
        sopInstanceUID = written.sopInstanceUID
        seriesInstanceUID = written.seriesInstanceUID
        segmentNumbers = Set(segments.map(\.number))
    }
}
