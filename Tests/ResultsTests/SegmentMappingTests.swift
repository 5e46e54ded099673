import DICOM
import DICOMObjects
import Foundation
import ModelPackage
import Results
import TestSupport
import Testing
import Volume

/// Manifest labels → SEG segment descriptions, and label values → segment numbers.
@Suite struct SegmentMappingTests {
    private static func label(
        _ value: Int, _ name: String, type: [String: String], color: [Int]? = nil
    ) -> [String: Any] {
        var label: [String: Any] = [
            "value": value, "name": name, "category": Manifests.anatomicalStructure, "type": type
        ]
        if let color { label["color"] = color }
        return label
    }

    private static var sparse: [[String: Any]] {
        [
            label(3, "Kidney", type: ["code": "64033007", "scheme": "SCT", "meaning": "Kidney"], color: [185, 102, 83]),
            label(1, "Liver", type: ["code": "10200004", "scheme": "SCT", "meaning": "Liver"]),
            label(7, "Lesion", type: ["code": "52988006", "scheme": "SCT", "meaning": "Lesion"], color: [255, 0, 0])
        ]
    }

    @Test func segmentsAreNumberedInLabelOrder() throws {
        let manifest = try Manifests.decode(Manifests.segmentation(labels: Self.sparse, outputs: 8))
        let mapping = try SegmentMapping(manifest: manifest, uids: UIDGenerator())
        #expect(mapping.segments.map(\.number) == [1, 2, 3])
        #expect(mapping.segments.map(\.label) == ["Kidney", "Liver", "Lesion"])
        #expect(mapping.labelValues == [3, 1, 7])
        #expect([3, 1, 7, 0, 2].map { mapping.segmentNumber(ofLabel: $0) } == [1, 2, 3, nil, nil])
        let kidney = mapping.segments[0]
        #expect(kidney.type == CodedConcept("64033007", "SCT", "Kidney"))
        #expect(kidney.category == .anatomicalStructure)
        #expect(kidney.displayColor == CIELabColor(sRGB: (185, 102, 83)))
        #expect(mapping.segments[1].displayColor == nil)
        #expect(kidney.algorithmType == .automatic)
        #expect(kidney.algorithm?.name == "nnMamba phantom" && kidney.algorithm?.version == "0.1")
        #expect(kidney.algorithm?.family == .artificialIntelligence)
        let tracking = mapping.segments.compactMap(\.tracking)
        #expect(tracking.map(\.identifier) == ["Kidney", "Liver", "Lesion"])
        #expect(Set(tracking.map(\.uid)).count == 3 && tracking.allSatisfy { UID.isValid($0.uid) })
    }

    @Test func algorithmFamilyComesFromTheManifest() throws {
        var json = Manifests.segmentation()
        json["algorithm"] = [
            "name": "nnMamba", "version": "2", "family": ["code": "123110", "scheme": "DCM", "meaning": "Deep Learning"]
        ]
        let mapping = try SegmentMapping(manifest: Manifests.decode(json), uids: UIDGenerator())
        #expect(mapping.segments[0].algorithm?.family == CodedConcept("123110", "DCM", "Deep Learning"))
    }

    @Test func labelValuesBecomeSegmentNumbers() throws {
        let manifest = try Manifests.decode(Manifests.segmentation(labels: Self.sparse, outputs: 8))
        let mapping = try SegmentMapping(manifest: manifest, uids: UIDGenerator())
        let geometry = Geometry(size: SIMD3(3, 2, 1), spacing: SIMD3(1, 1, 1), origin: .zero, direction: .identity)
        let labels = try LabelMap(Volume(geometry: geometry, voxels: [0, 3, 1, 7, 7, 0]), on: geometry)
        let (pixels, counts) = try mapping.pixels(of: labels)
        guard case .labels(let numbers) = pixels else {
            Issue.record("expected an 8-bit label map")
            return
        }
        #expect(numbers == [0, 1, 2, 3, 3, 0])
        #expect(counts == [1, 1, 2])
    }

    /// Label values 1…n in order (most manifests) take the narrowing path: the same numbers and
    /// counts over more than one chunk of 65 536 voxels and a tail of fewer than four, and a
    /// value above n, in the second chunk, is still refused by name and position.
    @Test func labelValuesOneToNAreNumberedByValue() throws {
        let labels = [
            Self.label(1, "Liver", type: ["code": "10200004", "scheme": "SCT", "meaning": "Liver"]),
            Self.label(2, "Spleen", type: ["code": "78961009", "scheme": "SCT", "meaning": "Spleen"]),
            Self.label(3, "Kidney", type: ["code": "64033007", "scheme": "SCT", "meaning": "Kidney"])
        ]
        let manifest = try Manifests.decode(Manifests.segmentation(labels: labels, outputs: 4))
        let mapping = try SegmentMapping(manifest: manifest, uids: UIDGenerator())
        let geometry = Geometry(size: SIMD3(307, 229, 1), spacing: SIMD3(1, 1, 1), origin: .zero, direction: .identity)
        // Runs of one value, as organs give, and a varying run length.
        let voxels = (0..<geometry.voxelCount).map { Float(($0 / (1 + $0 % 7)) % 4) }
        let (pixels, counts) = try mapping.pixels(
            of: LabelMap(Volume(geometry: geometry, voxels: voxels), on: geometry))
        guard case .labels(let numbers) = pixels else {
            Issue.record("expected an 8-bit label map")
            return
        }
        #expect(numbers == voxels.map { UInt8($0) })
        #expect(counts == (1...3).map { v in voxels.filter { $0 == Float(v) }.count })

        var wrong = voxels
        wrong[70_000] = 4
        #expect {
            try mapping.pixels(of: LabelMap(Volume(geometry: geometry, voxels: wrong), on: geometry))
        } throws: { error in
            guard let error = error as? ResultsError else { return false }
            return error.code == .unknownLabelValue && error.message.contains("label value 4")
                && error.message.contains("(\(70_000 % 307), \(70_000 / 307), 0)")
        }
    }

    @Test func refusesLabelValueWithoutDescription() throws {
        let manifest = try Manifests.decode(Manifests.segmentation(labels: Self.sparse, outputs: 8))
        let mapping = try SegmentMapping(manifest: manifest, uids: UIDGenerator())
        let geometry = Geometry(size: SIMD3(3, 2, 1), spacing: SIMD3(1, 1, 1), origin: .zero, direction: .identity)
        let labels = try LabelMap(Volume(geometry: geometry, voxels: [0, 3, 1, 5, 7, 0]), on: geometry)
        #expect {
            try mapping.pixels(of: labels)
        } throws: { error in
            guard let error = error as? ResultsError else { return false }
            return error.code == .unknownLabelValue && error.field == "labels[].value"
                && error.message.contains("label value 5") && error.message.contains("(0, 1, 0)")
        }
    }

    /// Mistakes in the labels, each with the model.json field its error must name.
    static var mistakes: [(field: String, labels: [[String: Any]])] {
        [
            (
                "labels[1].type.code",
                [sparse[0], label(1, "Liver", type: ["code": "", "scheme": "SCT", "meaning": "Liver"]), sparse[2]]
            ),
            (
                "labels[0].category.meaning",
                [
                    [
                        "value": 3, "name": "Kidney",
                        "type": ["code": "64033007", "scheme": "SCT", "meaning": "Kidney"],
                        "category": ["code": "123037004", "scheme": "SCT", "meaning": ""]
                    ]
                ]
            ),
            (
                "labels[0].color",
                [
                    label(
                        3, "Kidney", type: ["code": "64033007", "scheme": "SCT", "meaning": "Kidney"],
                        color: [300, 0, 0])
                ]
            ),
            ("labels[1].value", [sparse[0], label(3, "Other", type: ["code": "1", "scheme": "SCT", "meaning": "x"])]),
            ("labels[1].name", [sparse[0], label(1, "Kidney", type: ["code": "1", "scheme": "SCT", "meaning": "x"])]),
            (
                "labels[0].type",
                [
                    label(
                        3, "Kidney",
                        type: ["code": "64033007", "scheme": "SCT", "meaning": String(repeating: "k", count: 65)])
                ]
            ),
            ("labels", [])
        ]
    }

    @Test(arguments: 0..<mistakes.count)
    func refusesManifestLabelNamingTheField(_ index: Int) throws {
        let (field, labels) = Self.mistakes[index]
        let manifest = try Manifests.decode(Manifests.segmentation(labels: labels, outputs: 8))
        #expect {
            try SegmentMapping(manifest: manifest, uids: UIDGenerator())
        } throws: { error in
            let error = error as? ResultsError
            return error?.code == .manifest && error?.field == field && error?.description.contains(field) == true
        }
    }

    @Test func modelPackageRefusesLabelWithoutTypeCode() throws {
        // model.json without the code: the package loader names the field before encoding starts.
        let directory = TemporaryDirectory("model")
        var labels = Manifests.phantomLabels
        labels[1]["type"] = ["scheme": "SCT", "meaning": "Liver"]
        try Manifests.writePackage(Manifests.segmentation(labels: labels), into: directory.path)
        #expect {
            try ModelPackage(directory: directory.path)
        } throws: { ($0 as? ModelPackageError)?.field == "labels[1].type.code" }
    }
}
