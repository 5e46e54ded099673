import DICOM
import DICOMObjects
import Foundation
import ModelPackage

extension ResultEncoder {
    /// Writes an SR with the classification of the whole source: the manifest's concept, the
    /// positive or negative finding by the manifest's threshold, and the probability (TID 1501
    /// qualitative evaluation and DCM 122157 "Probability").
    ///
    /// - Parameter probability: the model's probability of the positive class, 0…1.
    public func encodeClassification(
        probability: Double, source: SourceImages, version: Int = 1, comments: [String] = [],
        outputs: Set<EncodedObject.Kind> = [], into directory: String
    ) throws(ResultsError) -> EncodedResult {
        try requireTask(.classification)
        guard let classes = manifest.classification else {
            throw ResultsError(.manifest, "a classification model needs classification", field: "classification")
        }
        guard probability.isFinite, (0...1).contains(probability) else {
            throw ResultsError(.modelOutput, "probability \(probability) is not within 0…1")
        }
        let concept = try SegmentMapping.concept(classes.concept, "classification.concept")
        let positive = try SegmentMapping.concept(classes.positive, "classification.positive")
        let negative = try SegmentMapping.concept(classes.negative, "classification.negative")
        let report: MeasurementReport
        do throws(DICOMError) {
            let tracking = try TrackingIdentity(identifier: String(concept.meaning.prefix(64)), uid: uids.make())
            let finding = try Classification(
                concept: concept, value: probability >= classes.threshold ? positive : negative,
                probability: probability, tracking: tracking)
            report = try MeasurementReport(
                procedureReported: Self.procedure(modality: source.modality), algorithm: algorithm,
                observer: configuration.observer, classifications: [finding])
        } catch {
            throw ResultsError(error, writing: "the classification report", field: "classification")
        }
        let numbers = try configuration.seriesNumbers(version: version)
        try createDirectory(directory)
        let sr = try writeReport(
            report, source: source, seriesNumber: numbers.report, version: version, comments: comments,
            into: directory)
        var views = ResultViews()
        views.classification =
            "\(concept.meaning): \((probability >= classes.threshold ? positive : negative).meaning) "
            + "(p = \(ResultViews.format(probability, digits: 2)))"
        return try withViews(
            views, report: sr, source: source, numbers: numbers, version: version, outputs: outputs, into: directory)
    }

    /// The SR and the other objects `outputs` asks for (a RT Structure Set needs segments, so a
    /// report-only result has none).
    private func withViews(
        _ views: ResultViews, report sr: EncodedObject, source: SourceImages, numbers: SeriesNumbers, version: Int,
        outputs: Set<EncodedObject.Kind>, into directory: String
    ) throws(ResultsError) -> EncodedResult {
        do {
            let more = try writeViews(
                views, source: source, numbers: numbers, version: version, outputs: outputs, produced: [sr],
                into: directory)
            return EncodedResult(
                objects: [sr] + more.objects, segments: [], notWritten: more.notWritten, timings: more.timings)
        } catch {
            try? FileManager.default.removeItem(atPath: sr.path)
            throw error
        }
    }

    /// Writes an SR with one SCOORD3D point per manifest landmark and the manifest's distances.
    ///
    /// - Parameter positions: one patient position (LPS mm, the source Frame of Reference) per
    ///   entry of the manifest's `landmarks`, in that order.
    public func encodeLandmarks(
        _ positions: [SIMD3<Double>], source: SourceImages, version: Int = 1, comments: [String] = [],
        outputs: Set<EncodedObject.Kind> = [], into directory: String
    ) throws(ResultsError) -> EncodedResult {
        try requireTask(.landmarks)
        let described = manifest.landmarks ?? []
        guard !described.isEmpty else {
            throw ResultsError(.manifest, "a landmark model needs landmarks", field: "landmarks")
        }
        guard positions.count == described.count else {
            throw ResultsError(
                .modelOutput, "\(positions.count) positions for \(described.count) landmarks", field: "landmarks")
        }
        var landmarks: [Landmark] = []
        for (index, (landmark, position)) in zip(described, positions).enumerated() {
            let field = "landmarks[\(index)]"
            // A landmark without a code is still an anatomical point; CID 7150's category
            // says no more than that.
            let concept =
                try landmark.code.map { (code) throws(ResultsError) in
                    try SegmentMapping.concept(code, field + ".code")
                } ?? .anatomicalStructure
            do throws(DICOMError) {
                landmarks.append(
                    try Landmark(name: landmark.name, concept: concept, position: position, trackingUID: uids.make()))
            } catch {
                throw ResultsError(.manifest, error.message, field: field, tag: error.tag)
            }
        }
        let report: MeasurementReport
        do throws(DICOMError) {
            let distances = try (manifest.distances ?? []).map { d throws(DICOMError) in
                LandmarkDistance(
                    from: d.from, to: d.to,
                    tracking: try TrackingIdentity(
                        identifier: String((d.name ?? "\(d.from) to \(d.to)").prefix(64)), uid: uids.make()))
            }
            report = try MeasurementReport(
                procedureReported: Self.procedure(modality: source.modality), algorithm: algorithm,
                observer: configuration.observer, landmarks: landmarks, distances: distances)
        } catch {
            throw ResultsError(error, writing: "the landmark report", field: "distances")
        }
        let numbers = try configuration.seriesNumbers(version: version)
        try createDirectory(directory)
        let sr = try writeReport(
            report, source: source, seriesNumber: numbers.report, version: version, comments: comments,
            into: directory)
        var views = ResultViews()
        views.landmarks = zip(described, positions).map { ResultViews.Point(name: $0.name, position: $1) }
        let index = Dictionary(described.enumerated().map { ($1.name, $0) }, uniquingKeysWith: { a, _ in a })
        views.distances = (manifest.distances ?? []).compactMap { d in
            guard let from = index[d.from], let to = index[d.to] else { return nil }
            let v = positions[to] - positions[from]
            return ResultViews.Distance(
                name: d.name ?? "\(d.from) to \(d.to)", from: from, to: to, millimetres: (v * v).sum().squareRoot())
        }
        return try withViews(
            views, report: sr, source: source, numbers: numbers, version: version, outputs: outputs, into: directory)
    }

    /// Writes `report`, with `comments`, as a Comprehensive 3D SR in a new series of the source's study.
    func writeReport(
        _ report: MeasurementReport, source: SourceImages, seriesNumber: Int, version: Int, comments: [String],
        into directory: String
    ) throws(ResultsError) -> EncodedObject {
        var report = report
        report.comments = comments
        do throws(DICOMError) {
            let series = try SeriesIdentity(
                uids: uids, seriesNumber: seriesNumber,
                seriesDescription: configuration.reportDescription
                    ?? seriesDescription("report", version: version))
            let writer = try ReportWriter(
                report: report, sources: source.files, series: series, equipment: configuration.equipment)
            let path = directory + "/SR-\(series.sopInstanceUID).dcm"
            try writer.write(to: path)
            return EncodedObject(kind: .report, path: path, sopClassUID: ReportWriter.sopClassUID, series: series)
        } catch {
            throw ResultsError(error, writing: "the report")
        }
    }

    /// Procedure Reported (TID 1500 row 4, CID 100 Quantitative Diagnostic Imaging Procedures)
    /// from the source's Modality; any other modality reports the generic imaging procedure.
    static func procedure(modality: String?) -> CodedConcept {
        switch modality {
        case "CT": CodedConcept("77477000", "SCT", "Computerized tomography")
        case "MR": CodedConcept("113091000", "SCT", "Magnetic resonance imaging")
        case "PT": CodedConcept("82918005", "SCT", "Positron emission tomography")
        default: CodedConcept("363679005", "SCT", "Imaging")
        }
    }
}
