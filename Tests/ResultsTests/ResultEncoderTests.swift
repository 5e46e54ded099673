import DICOM
import DICOMObjects
import Foundation
import Results
import TestSupport
import Testing
import Volume

/// SEG + SR of generated sources, checked by dicom3tools, dsrdump and highdicom (docs/conformance.md), and
/// the classification and landmark reports.
@Suite struct ResultEncoderTests {
    private func encoder(_ json: [String: Any]) throws -> ResultEncoder {
        try ResultEncoder(manifest: Manifests.decode(json), configuration: .test(), uids: UIDGenerator())
    }

    @Test(arguments: SourceKind.allCases)
    func segmentationOfGeneratedSourceValidatesAndReadsBack(_ kind: SourceKind) throws {
        let source = try GeneratedSource(kind)
        let images = try SourceImages(volume: source.volume, series: source.series)
        let labels = try LabelMap(NIfTI.read(contentsOf: source.writeLabels()), on: images.geometry)
        let result = try encoder(Manifests.segmentation())
            .encodeSegmentation(labels, source: images, into: source.directory.file("out"))
        try #require(result.objects.map(\.kind) == [.segmentation, .report])
        let seg = result.objects[0], sr = result.objects[1]
        #expect(seg.sopClassUID == SegmentationWriter.sopClassUID)
        #expect(sr.sopClassUID == ReportWriter.sopClassUID)
        #expect(try DataSet.read(contentsOf: seg.path, headerOnly: true).string(.sopInstanceUID) == seg.sopInstanceUID)
        #expect(try DataSet.read(contentsOf: sr.path, headerOnly: true).string(.sopInstanceUID) == sr.sopInstanceUID)

        #expect(try ReadBack.dciodvfyErrors(seg.path) == [])
        #expect(try ReadBack.dciodvfyErrors(sr.path) == [])
        #expect(try ReadBack.dcentvfyErrors(source.written.files + [seg.path, sr.path]) == [])
        let dump = try ExternalTool.run("dsrdump", [sr.path])
        #expect(dump.status == 0, "\(dump.output)")

        // Segment numbers follow the manifest's label order, not the label values.
        let expected = source.labels.map { Manifests.segmentOfValue[Int($0)] }
        let segBack = try ReadBack.segmentation(
            seg.path, grid: images.grid, segmentNumbers: expected, segmentCount: 4,
            in: source.directory)
        #expect(segBack.status == 0, "\(segBack.output)")

        // Volumes: label counts × voxel volume, from the generator's numbers.
        var counts = [Int](repeating: 0, count: 5)
        for value in expected { counts[Int(value)] += 1 }
        #expect(result.segments.map(\.voxelCount) == Array(counts.dropFirst()))
        // Every phantom label is in the field of view; the MR head has no label 4, so its
        // "Lesion" segment is empty (a segment without frames, still described and measured).
        let present = Set(source.generator.phantom.ellipsoids.map(\.label).filter { $0 > 0 })
        for value in 1...4 {
            #expect((counts[Int(Manifests.segmentOfValue[value])] > 0) == present.contains(value), "label \(value)")
        }
        let tracking = try ReadBack.trackingUIDs(ofSEG: seg.path)
        let volumes = Dictionary(
            uniqueKeysWithValues: (1...4).map { n in
                (tracking[n] ?? "missing \(n)", [n, Double(counts[n]) * source.voxelVolume] as [Any])
            })
        let srBack = try ReadBack.report(
            sr.path,
            job: [
                "seg_uid": seg.sopInstanceUID, "volumes": volumes,
                "frame_of_reference": source.written.frameOfReferenceUID
            ],
            in: source.directory)
        #expect(srBack.status == 0, "\(srBack.output)")
    }

    @Test func laterVersionsGetHigherSeriesNumbers() throws {
        let source = try GeneratedSource(.axialCT)
        let images = try SourceImages(volume: source.volume, series: source.series)
        let labels = try LabelMap(source.labelVolume(), on: images.geometry)
        let encoder = try encoder(Manifests.segmentation())
        let first = try encoder.encodeSegmentation(
            labels, source: images, version: 1, into: source.directory.file("v1"))
        let second = try encoder.encodeSegmentation(
            labels, source: images, version: 2, into: source.directory.file("v2"))
        #expect(first.objects.map(\.seriesNumber) == [900, 901])
        #expect(second.objects.map(\.seriesNumber) == [1000, 1001])
        #expect(Set(first.objects.map(\.seriesInstanceUID)).isDisjoint(with: second.objects.map(\.seriesInstanceUID)))
        let seg = try DataSet.read(contentsOf: second.objects[0].path, headerOnly: true)
        #expect(try seg.string(.seriesNumber) == "1000")
        #expect(try seg.string(.seriesDescription) == "Phantom organs segmentation v2")
        #expect(try DataSet.read(contentsOf: second.objects[1].path, headerOnly: true).string(.seriesNumber) == "1001")
        #expect(throws: ResultsError.self) {
            try encoder.encodeSegmentation(labels, source: images, version: 0, into: source.directory.file("v0"))
        }
    }

    /// With a structure set asked for: SEG, SR and an RT Structure Set (Series Number 902) with one
    /// ROI per segment that has a voxel, named as the segment, its RT ROI Interpreted Type from the
    /// manifest (ORGAN when it names none), dciodvfy and dcentvfy clean.
    @Test func structureSetComesWithTheSegmentation() throws {
        let source = try GeneratedSource(.doubleObliqueMR)
        let images = try SourceImages(volume: source.volume, series: source.series)
        let labels = try LabelMap(source.labelVolume(), on: images.geometry)
        var labelsJSON = Manifests.phantomLabels
        labelsJSON[0]["rt_roi_interpreted_type"] = "OAR"
        let result = try encoder(Manifests.segmentation(labels: labelsJSON))
            .encodeSegmentation(labels, source: images, outputs: [.structureSet], into: source.directory.file("out"))
        try #require(result.objects.map(\.kind) == [.segmentation, .report, .structureSet])
        let rtstruct = result.objects[2]
        #expect(rtstruct.seriesNumber == 902 && rtstruct.sopClassUID == StructureSetWriter.sopClassUID)
        #expect(try ReadBack.dciodvfyErrors(rtstruct.path) == [])
        #expect(try ReadBack.dcentvfyErrors(source.written.files + result.objects.map(\.path)) == [])
        let names = try ExternalTool.run("dcmdump", ["+P", "3006,0026", rtstruct.path]).output
        let present = result.segments.filter { $0.voxelCount > 0 }
        #expect(!present.isEmpty)
        for segment in present { #expect(names.contains("[\(segment.label)]"), "\(names)") }
        let types = try ExternalTool.run("dcmdump", ["+P", "3006,00a4", rtstruct.path]).output
        #expect(types.contains("[OAR]") == (present.first?.segmentNumber == 1), "\(types)")
        #expect(types.contains("[ORGAN]"), "\(types)")
    }

    @Test func leavesNoSEGWhenTheReportFails() throws {
        let source = try GeneratedSource(.axialCT)
        let images = try SourceImages(volume: source.volume, series: source.series)
        // The SEG copies patient and study from the first file only; the report's image library
        // reads every file, so a file gone in between fails the report after the SEG is written.
        try FileManager.default.removeItem(atPath: source.written.files[1])
        let out = source.directory.file("out")
        #expect {
            try encoder(Manifests.segmentation())
                .encodeSegmentation(LabelMap(source.labelVolume(), on: images.geometry), source: images, into: out)
        } throws: { ($0 as? ResultsError)?.code == .encoding }
        #expect(try FileManager.default.contentsOfDirectory(atPath: out) == [])
    }

    @Test func classificationReportReadsBack() throws {
        let source = try GeneratedSource(.axialCT)
        let images = try SourceImages(volume: source.volume, series: source.series)
        let result = try encoder(Manifests.classification())
            .encodeClassification(probability: 0.83, source: images, into: source.directory.file("out"))
        try #require(result.objects.map(\.kind) == [.report])
        let sr = result.objects[0]
        #expect(sr.seriesNumber == 901)
        #expect(try ReadBack.dciodvfyErrors(sr.path) == [])
        #expect(try ReadBack.dcentvfyErrors(source.written.files + [sr.path]) == [])
        let dump = try ExternalTool.run("dsrdump", [sr.path])
        #expect(dump.status == 0, "\(dump.output)")
        // 0.83 ≥ threshold 0.5: the positive finding.
        let back = try ReadBack.report(
            sr.path,
            job: [
                "volumes": [String: Any](), "frame_of_reference": source.written.frameOfReferenceUID,
                "classification": ["value": "86049000", "probability": 0.83]
            ],
            in: source.directory)
        #expect(back.status == 0, "\(back.output)")
    }

    @Test func landmarkReportReadsBack() throws {
        let source = try GeneratedSource(.doubleObliqueMR)
        let images = try SourceImages(volume: source.volume, series: source.series)
        // Voxel centres of the source grid, in its frame of reference.
        let lesion = source.volume.geometry.patientPoint(ofIndex: SIMD3(20, 18, 6))
        let vertebra = source.volume.geometry.patientPoint(ofIndex: SIMD3(30, 25, 3))
        let result = try encoder(Manifests.landmarks())
            .encodeLandmarks([lesion, vertebra], source: images, into: source.directory.file("out"))
        let sr = try #require(result.objects.first)
        #expect(try ReadBack.dciodvfyErrors(sr.path) == [])
        #expect(try ReadBack.dcentvfyErrors(source.written.files + [sr.path]) == [])
        let dump = try ExternalTool.run("dsrdump", [sr.path])
        #expect(dump.status == 0, "\(dump.output)")
        let d = lesion - vertebra
        let back = try ReadBack.report(
            sr.path,
            job: [
                "volumes": [String: Any](), "frame_of_reference": source.written.frameOfReferenceUID,
                "landmarks": [
                    "Lesion centre": [lesion.x, lesion.y, lesion.z],
                    "Vertebra centre": [vertebra.x, vertebra.y, vertebra.z]
                ],
                "distances": ["Lesion to vertebra": (d * d).sum().squareRoot()]
            ], in: source.directory)
        #expect(back.status == 0, "\(back.output)")
        // One position per manifest landmark.
        #expect {
            try encoder(Manifests.landmarks()).encodeLandmarks(
                [lesion], source: images, into: source.directory.file("bad"))
        } throws: { ($0 as? ResultsError)?.code == .modelOutput }
    }

    @Test func refusesOutputsOfAnotherTask() throws {
        let source = try GeneratedSource(.axialCT)
        let images = try SourceImages(volume: source.volume, series: source.series)
        #expect {
            try encoder(Manifests.classification())
                .encodeSegmentation(
                    LabelMap(source.labelVolume(), on: images.geometry), source: images,
                    into: source.directory.file("out"))
        } throws: { ($0 as? ResultsError)?.field == "task" }
        #expect {
            try encoder(Manifests.classification()).encodeClassification(
                probability: 1.2, source: images,
                into: source.directory.file("out"))
        } throws: { ($0 as? ResultsError)?.code == .modelOutput }
    }
}

extension ResultEncoderConfiguration {
    static func test() throws -> ResultEncoderConfiguration {
        try ResultEncoderConfiguration(
            equipment: EquipmentIdentity(deviceSerialNumber: "test-node", softwareVersions: "0.1"),
            observer: DeviceObserver(uid: UIDGenerator().make(), name: "MAMBANODE"))
    }
}
