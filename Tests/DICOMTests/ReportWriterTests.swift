import DICOM
import DICOMObjects
import Foundation
import TestSupport
import Testing

/// TID 1500 reports on generated sources: validators, dsrdump, and highdicom's TID 1500 parser
/// reading back the volumes, the classification, the landmarks and the distance.
@Suite struct ReportWriterTests {
    private let lesion = try! Landmark(
        name: "Lesion centre", concept: CodedConcept("52988006", "SCT", "Lesion"),
        position: SIMD3(10, 0, 20), trackingUID: try! UIDGenerator().make())
    private let vertebra = try! Landmark(
        name: "Vertebra centre", concept: CodedConcept("51282000", "SCT", "Vertebra"),
        position: SIMD3(0, 35, -10.5), trackingUID: try! UIDGenerator().make())
    private let pathology = CodedConcept("111042", "DCM", "Pathology")
    private let malignant = CodedConcept("86049000", "SCT", "Malignant neoplasm")

    /// Volumes from the label counts × voxel volume, as the Results module computes them.
    private func volumes(_ fixture: SegmentationFixture, _ segments: [SegmentDescription]) throws -> [VolumeMeasurement]
    {
        var counts = [Int](repeating: 0, count: segments.count + 1)
        for label in fixture.labels { counts[Int(label)] += 1 }
        return try segments.map {
            try VolumeMeasurement(segment: $0, volume: Double(counts[$0.number]) * fixture.grid.voxelVolume)
        }
    }

    private func report(
        _ fixture: SegmentationFixture, seg: SegmentationWriter.Written?,
        segments: [SegmentDescription], withVolumes: Bool = true
    ) throws -> MeasurementReport {
        let uids = fixture.uids
        return try MeasurementReport(
            procedureReported: CodedConcept("77477000", "SCT", "Computerized tomography"),
            algorithm: AlgorithmIdentification(name: "nnMamba test", version: "0.1"),
            observer: DeviceObserver(uid: uids.make(), name: "MAMBANODE"),
            segmentation: seg.map { SegmentationReference($0, segments: segments) },
            volumes: withVolumes ? volumes(fixture, segments) : [],
            classifications: [
                Classification(
                    concept: pathology, value: malignant, probability: 0.83,
                    tracking: TrackingIdentity(identifier: "Classification", uid: uids.make()))
            ],
            landmarks: [lesion, vertebra],
            distances: [
                LandmarkDistance(
                    from: lesion.name, to: vertebra.name,
                    tracking: TrackingIdentity(identifier: "Lesion to vertebra", uid: uids.make()))
            ])
    }

    private func write(
        _ report: MeasurementReport, _ fixture: SegmentationFixture, name: String = "sr.dcm"
    ) throws -> String {
        let writer = try ReportWriter(
            report: report, sources: fixture.written.files,
            series: SeriesIdentity(uids: fixture.uids, seriesNumber: 902, seriesDescription: "MambaNode report"),
            equipment: EquipmentIdentity(deviceSerialNumber: "test-node", softwareVersions: "0.1"))
        let path = fixture.directory.file(name)
        try writer.write(to: path)
        return path
    }

    private func readBack(
        _ path: String, _ report: MeasurementReport, _ fixture: SegmentationFixture
    ) throws -> ExternalTool.Result {
        try VenvPython.run(script: "sr_readback.py", [try readBackJob(path, report, fixture)])
    }

    /// The read-back script's job file for `report` written at `path`.
    private func readBackJob(
        _ path: String, _ report: MeasurementReport, _ fixture: SegmentationFixture
    ) throws -> String {
        let a = lesion.position, b = vertebra.position
        let job: [String: Any] = [
            "sr": path,
            "seg_uid": report.segmentation?.sopInstanceUID ?? "",
            "volumes": Dictionary(
                uniqueKeysWithValues: report.volumes.map { ($0.tracking.uid, [$0.segmentNumber, $0.volume] as [Any]) }),
            "classification": ["value": malignant.value, "probability": 0.83],
            "landmarks": [lesion.name: [a.x, a.y, a.z], vertebra.name: [b.x, b.y, b.z]],
            "distances": ["Lesion to vertebra": ((a - b) * (a - b)).sum().squareRoot()],
            "frame_of_reference": fixture.written.frameOfReferenceUID
        ]
        let file = fixture.directory.file("sr-readback.json")
        try JSONSerialization.data(withJSONObject: job).write(to: URL(fileURLWithPath: file))
        return file
    }

    @Test func measurementReportValidatesAndReadsBack() throws {
        let fixture = try SegmentationFixture()
        let segments = try fixture.segments()
        let seg = try fixture.writer(segments: segments).write(to: fixture.directory.file("seg.dcm"))
        let report = try report(fixture, seg: seg, segments: segments)
        let path = try write(report, fixture)
        #expect(try Validators.dciodvfyErrors(path) == [])
        #expect(try Validators.dcentvfyErrors(fixture.written.files + [seg.path, path]) == [])
        let dump = try ExternalTool.run("dsrdump", [path])
        #expect(dump.status == 0, "\(dump.output)")
        let readBack = try readBack(path, report, fixture)
        #expect(readBack.status == 0, "\(readBack.output)")
        // The report is a Comprehensive 3D SR in the source's study, in its own series.
        let ds = try DataSet.read(contentsOf: path)
        #expect(try ds.string(.sopClassUID) == ReportWriter.sopClassUID)
        #expect(try ds.string(.studyInstanceUID) == fixture.written.studyInstanceUID)
        #expect(try ds.string(.seriesNumber) == "902")
    }

    @Test func reportWithoutSegmentationValidates() throws {
        let fixture = try SegmentationFixture()
        let report = try report(fixture, seg: nil, segments: [], withVolumes: false)
        let path = try write(report, fixture)
        #expect(try Validators.dciodvfyErrors(path) == [])
        let dump = try ExternalTool.run("dsrdump", [path])
        #expect(dump.status == 0, "\(dump.output)")
        let readBack = try readBack(path, report, fixture)
        #expect(readBack.status == 0, "\(readBack.output)")
    }

    /// A remark about the whole report (e.g. that the source series may be incomplete) is a TEXT
    /// (121106, DCM, "Comment") in TID 1500 Row 14's Qualitative Evaluations; still valid.
    @Test func commentsAreQualitativeEvaluationText() throws {
        let fixture = try SegmentationFixture()
        var report = try report(fixture, seg: nil, segments: [], withVolumes: false)
        report.comments = ["Series 1.2.3 may be incomplete: 30 instances received; the association ended abnormally."]
        let path = try write(report, fixture)
        #expect(try Validators.dciodvfyErrors(path) == [])
        let dump = try ExternalTool.run("dsrdump", ["+Pl", "+Pc", path])
        #expect(dump.status == 0, "\(dump.output)")
        #expect(
            dump.output.contains(
                "<contains TEXT:(121106,DCM,\"Comment\")=\"Series 1.2.3 may be incomplete: 30 instances"
                    + " received; the association ended abnormally.\""), "\(dump.output)")
        #expect(dump.output.contains("Qualitative Evaluations"), "\(dump.output)")
        #expect(try VenvPython.run(script: "sr_readback.py", [try readBackJob(path, report, fixture)]).status == 0)
    }

    @Test func rejectsInconsistentReports() throws {
        let fixture = try SegmentationFixture()
        let segments = try fixture.segments()
        let uids = fixture.uids
        let algorithm = try AlgorithmIdentification(name: "nnMamba", version: "1")
        let observer = try DeviceObserver(uid: uids.make(), name: "MAMBANODE")
        let ct = CodedConcept("77477000", "SCT", "Computerized tomography")
        // Volumes without the SEG they measure.
        #expect {
            try MeasurementReport(
                procedureReported: ct, algorithm: algorithm, observer: observer,
                volumes: [VolumeMeasurement(segment: segments[0], volume: 1)])
        } throws: { ($0 as? DICOMError)?.tag == .referencedSegmentNumber }
        // A distance to a landmark that is not in the report.
        #expect {
            try MeasurementReport(
                procedureReported: ct, algorithm: algorithm, observer: observer, landmarks: [lesion],
                distances: [
                    LandmarkDistance(
                        from: lesion.name, to: "Nowhere",
                        tracking: TrackingIdentity(identifier: "d", uid: uids.make()))
                ])
        } throws: { ($0 as? DICOMError)?.message.contains("Nowhere") == true }
        // A segment without tracking identity cannot be a TID 1411 group.
        let untracked = try SegmentDescription(
            number: 1, label: "Liver", category: .tissue, type: segments[0].type,
            algorithmType: .manual)
        #expect { try VolumeMeasurement(segment: untracked, volume: 1) } throws: {
            ($0 as? DICOMError)?.tag == .trackingID
        }
        #expect {
            try Classification(
                concept: CodedConcept("121071", "DCM", "Finding"), value: malignant, probability: 0.5,
                tracking: TrackingIdentity(identifier: "c", uid: uids.make()))
        } throws: { ($0 as? DICOMError)?.tag == .conceptNameCodeSequence }
        #expect {
            try Classification(
                concept: pathology, value: malignant, probability: 1.5,
                tracking: TrackingIdentity(identifier: "c", uid: uids.make()))
        } throws: { ($0 as? DICOMError)?.tag == .conceptNameCodeSequence }
    }
}
