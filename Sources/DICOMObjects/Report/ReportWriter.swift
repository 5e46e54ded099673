import CDICOM
import CDICOMObjects
import DICOM

/// Writes a ``MeasurementReport`` as a Comprehensive 3D SR following TID 1500 (PS3.3 A.35.13,
/// PS3.16 TID 1500): language, the node as device observer, procedure reported, an image library
/// of the source, and one measurement group per volume, classification, landmark and distance.
/// Patient and study are the source's; the series is new.
///
/// ```swift
/// let writer = try ReportWriter(report: report, sources: sliceFiles,
///                               series: SeriesIdentity(uids: uids, seriesNumber: 902),
///                               equipment: equipment)
/// try writer.write(to: "/var/out/sr.dcm")
/// ```
public struct ReportWriter: Sendable {
    public let report: MeasurementReport
    /// Source image files in slice order.
    public let sources: [String]
    public let series: SeriesIdentity
    public let equipment: EquipmentIdentity

    public static let sopClassUID = "1.2.840.10008.5.1.4.1.1.88.34"

    public init(
        report: MeasurementReport, sources: [String], series: SeriesIdentity, equipment: EquipmentIdentity
    ) throws(DICOMError) {
        guard !sources.isEmpty else {
            throw DICOMError(
                .argument, "a measurement report needs the source images (TID 1600 Image Library)",
                tag: .referencedSOPInstanceUID)
        }
        self.report = report
        self.sources = sources
        self.series = series
        self.equipment = equipment
    }

    public func write(to path: String) throws(DICOMError) {
        DICOMLibrary.initialize()
        let arena = CStringArena()
        func code(_ c: CodedConcept) -> mn_code {
            mn_code(value: arena(c.value), scheme: arena(c.scheme), meaning: arena(c.meaning))
        }
        let volumes = report.volumes.map { v in
            mn_sr_volume(
                tracking_id: arena(v.tracking.identifier), tracking_uid: arena(v.tracking.uid),
                finding: code(v.finding),
                segment_number: UInt16(v.segmentNumber), volume_mm3: v.volume)
        }
        let classifications = report.classifications.map { c in
            mn_sr_classification(
                tracking_id: arena(c.tracking.identifier), tracking_uid: arena(c.tracking.uid),
                concept: code(c.concept), value: code(c.value), probability: c.probability ?? -1)
        }
        let landmarks = report.landmarks.map { l in
            mn_sr_landmark(
                tracking_id: arena(l.name), tracking_uid: arena(l.trackingUID), concept: code(l.concept),
                position: (l.position.x, l.position.y, l.position.z))
        }
        let index = Dictionary(uniqueKeysWithValues: report.landmarks.enumerated().map { ($1.name, $0) })
        let distances = report.distances.map { d in
            let a = report.landmarks[index[d.from]!].position, b = report.landmarks[index[d.to]!].position
            return mn_sr_distance(
                tracking_id: arena(d.tracking.identifier), tracking_uid: arena(d.tracking.uid),
                from: UInt32(index[d.from]!), to: UInt32(index[d.to]!),
                distance_mm: ((a - b) * (a - b)).sum().squareRoot())
        }
        let comments = report.comments.map { arena($0) }
        let sourcePaths = sources.map { arena($0) }
        var request = mn_sr_request()
        request.seg_sop_instance_uid = arena(report.segmentation?.sopInstanceUID)
        request.seg_series_instance_uid = arena(report.segmentation?.seriesInstanceUID)
        request.identify(series, equipment, in: arena)
        request.device_observer_uid = arena(report.observer.uid)
        request.device_observer_name = arena(report.observer.name)
        request.algorithm_name = arena(report.algorithm.name)
        request.algorithm_version = arena(report.algorithm.version)
        request.procedure_reported = code(report.procedureReported)
        try withExtendedLifetime(arena) { () throws(DICOMError) in
            try sourcePaths.withUnsafeBufferPointer { paths throws(DICOMError) in
                try volumes.withUnsafeBufferPointer { v throws(DICOMError) in
                    try classifications.withUnsafeBufferPointer { c throws(DICOMError) in
                        try landmarks.withUnsafeBufferPointer { l throws(DICOMError) in
                            try distances.withUnsafeBufferPointer { d throws(DICOMError) in
                                try comments.withUnsafeBufferPointer { remarks throws(DICOMError) in
                                    request.source_paths = paths.baseAddress
                                    request.source_count = paths.count
                                    request.volumes = v.baseAddress
                                    request.volume_count = v.count
                                    request.classifications = c.baseAddress
                                    request.classification_count = c.count
                                    request.landmarks = l.baseAddress
                                    request.landmark_count = l.count
                                    request.distances = d.baseAddress
                                    request.distance_count = d.count
                                    request.comments = remarks.baseAddress
                                    request.comment_count = remarks.count
                                    try shimCall(path: path) { mn_sr_write(&request, path, $0) }
                                }
                            }
                        }
                    }
                }
            }
        }
    }
}
