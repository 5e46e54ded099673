import DICOM
import DICOMObjects
import TestSupport
import Testing

/// Bad descriptions and inputs are refused when the value or the writer is built, and the error
/// names the field (docs/style-guide.md §4).
@Suite struct SegmentationValidationTests {
    private let algorithm = try! AlgorithmIdentification(name: "nnMamba", version: "1.0")
    private let liver = CodedConcept("10200004", "SCT", "Liver")

    @Test(arguments: [0, -1, 65536])
    func rejectsSegmentNumberOutsideRange(_ number: Int) {
        #expect {
            try SegmentDescription(
                number: number, label: "Liver", category: .anatomicalStructure, type: liver,
                algorithmType: .automatic, algorithm: algorithm)
        } throws: { ($0 as? DICOMError)?.tag == .segmentNumber }
    }

    @Test func rejectsMissingCodes() {
        #expect {
            try SegmentDescription(
                number: 1, label: "Liver", category: CodedConcept("", "SCT", "Tissue"), type: liver,
                algorithmType: .automatic, algorithm: algorithm)
        } throws: { ($0 as? DICOMError)?.tag == .segmentedPropertyCategoryCodeSequence }
        #expect {
            try SegmentDescription(
                number: 1, label: "Liver", category: .tissue, type: CodedConcept("10200004", "SCT", ""),
                algorithmType: .automatic, algorithm: algorithm)
        } throws: { error in
            let error = error as? DICOMError
            return error?.tag == .segmentedPropertyTypeCodeSequence && error?.message.contains("Code Meaning") == true
        }
    }

    @Test func requiresAlgorithmUnlessManual() throws {
        #expect {
            try SegmentDescription(number: 1, label: "Liver", category: .tissue, type: liver, algorithmType: .automatic)
        } throws: { ($0 as? DICOMError)?.tag == .segmentAlgorithmName }
        _ = try SegmentDescription(number: 1, label: "Liver", category: .tissue, type: liver, algorithmType: .manual)
    }

    @Test func rejectsEmptyLabelAndBadTracking() {
        #expect {
            try SegmentDescription(number: 1, label: "", category: .tissue, type: liver, algorithmType: .manual)
        } throws: { ($0 as? DICOMError)?.tag == .segmentLabel }
        #expect { try TrackingIdentity(identifier: "liver", uid: "1.2.03") } throws: {
            ($0 as? DICOMError)?.tag == .trackingUID
        }
        #expect { try ContentIdentity(label: "lower case") } throws: { ($0 as? DICOMError)?.tag == .contentLabel }
        #expect { try EquipmentIdentity(deviceSerialNumber: "", softwareVersions: "1") } throws: {
            ($0 as? DICOMError)?.tag == .deviceSerialNumber
        }
    }

    @Test func writerRejectsLabelMapOffTheSourceGrid() throws {
        let fixture = try SegmentationFixture()
        #expect {
            try fixture.writer(pixels: .labels(Array(fixture.labels.dropLast())))
        } throws: { error in
            let error = error as? DICOMError
            return error?.tag == .pixelData && error?.message.contains("source grid") == true
        }
        #expect {
            try fixture.writer(pixels: .masks([fixture.labels]), segments: fixture.segments(count: 2))
        } throws: { ($0 as? DICOMError)?.tag == .segmentSequence }
    }

    @Test func writerRejectsLabelWithoutDescription() throws {
        let fixture = try SegmentationFixture()
        // Labels 1…4 are present; describe only three.
        #expect {
            try fixture.writer(segments: fixture.segments(count: 3))
        } throws: { error in
            let error = error as? DICOMError
            return error?.tag == .segmentNumber && error?.message.contains("label value 4") == true
        }
    }

    @Test func writerRejectsSegmentNumbersWithGaps() throws {
        let fixture = try SegmentationFixture()
        var segments = try fixture.segments(count: 4)
        segments[3] = try SegmentDescription(
            number: 6, label: "Lesion", category: .tissue, type: liver, algorithmType: .manual)
        #expect { try fixture.writer(segments: segments) } throws: { ($0 as? DICOMError)?.tag == .segmentNumber }
    }

    @Test func gridRejectsBadGeometry() {
        let frame = SourceFrame(sopClassUID: "1.2.840.10008.5.1.4.1.1.2", sopInstanceUID: "1.2.3", position: .zero)
        #expect {
            try SourceImageGrid(
                rows: 4, columns: 4, rowDirection: SIMD3(1, 0, 0), columnDirection: SIMD3(1, 0, 0),
                pixelSpacing: (1, 1), sliceThickness: 1, frames: [frame], referencePath: "/nonexistent")
        } throws: { ($0 as? DICOMError)?.tag == .imageOrientationPatient }
        #expect {
            try SourceImageGrid(
                rows: 4, columns: 4, rowDirection: SIMD3(1, 0, 0), columnDirection: SIMD3(0, 1, 0),
                pixelSpacing: (0, 1), sliceThickness: 1, frames: [frame], referencePath: "/nonexistent")
        } throws: { ($0 as? DICOMError)?.tag == .pixelSpacing }
    }

    @Test func convertsSRGBToDICOMCIELab() {
        // sRGB red is L* 53.24, a* 80.09, b* 67.20 (D65).
        let red = CIELabColor(sRGB: (255, 0, 0))
        #expect(abs(red.l - 53.24) < 0.05 && abs(red.a - 80.09) < 0.05 && abs(red.b - 67.20) < 0.05)
        let white = CIELabColor(sRGB: (255, 255, 255))
        #expect(abs(white.l - 100) < 0.01 && abs(white.a) < 0.01 && abs(white.b) < 0.01)
        // Black encodes to L 0 and the neutral a, b of 128/255 of the range.
        #expect(CIELabColor(sRGB: (0, 0, 0)).dicomValues == [0, 32896, 32896])
    }
}
