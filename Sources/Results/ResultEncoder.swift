import DICOM
import DICOMObjects
import Foundation
import ModelPackage

/// Turns a model's outputs on a source grid into DICOM objects, driven by the model's manifest
/// (docs/results.md):
///
/// - segmentation: a BINARY SEG with one segment per manifest label, and a TID 1500 SR with one
///   volumetric group per segment (volume in mm³ = voxel count × voxel volume) referencing it;
/// - classification: an SR with the coded finding and its probability;
/// - landmarks: an SR with each landmark as a SCOORD3D point in the source Frame of Reference
///   and the distances the manifest asks for, in mm.
///
/// Every object gets new UIDs and a new series in the source's study; the returned
/// ``EncodedResult`` names the files and their SOP Instance UIDs for the outbox.
///
/// ```swift
/// let encoder = try ResultEncoder(manifest: package.manifest, configuration: configuration, uids: uids)
/// let source = try SourceImages(volume: volume, series: series)
/// let labels = try LabelMap(prediction, on: source.geometry)
/// let result = try encoder.encodeSegmentation(labels, source: source, version: 1, into: "/var/results/42")
/// for object in result.objects { try outbox.enqueue(object) }
/// ```
public struct ResultEncoder: Sendable {
    public let manifest: ModelManifest
    public let configuration: ResultEncoderConfiguration
    let uids: UIDGenerator
    let algorithm: AlgorithmIdentification

    /// - Throws: `.manifest` naming the field when the algorithm identification is unusable.
    public init(
        manifest: ModelManifest, configuration: ResultEncoderConfiguration, uids: UIDGenerator
    ) throws(ResultsError) {
        self.manifest = manifest
        self.configuration = configuration
        self.uids = uids
        self.algorithm = try SegmentMapping.algorithm(manifest.algorithm)
    }

    /// Writes the SEG of `labels` and the SR with each segment's volume into `directory`.
    ///
    /// - Parameter version: the result version (1 for the first run of a series); later
    ///   versions get higher Series Numbers.
    /// - Parameter comments: remarks the SR carries about the whole result (e.g. that the source
    ///   series may be incomplete), as TID 1500 comments.
    /// - Parameter outputs: the kinds of object to write besides the SEG and SR, which are always
    ///   written (the SR references the SEG): RT Structure Set, presentation state, Secondary
    ///   Capture overlays, Key Object Selection (docs/results.md, Outputs per destination).
    /// - Throws: `.manifest` (not a segmentation model, or a label the SEG cannot carry),
    ///   `.gridMismatch` (labels not on `source`'s grid), `.unknownLabelValue`, `.encoding`.
    ///   When it throws, no SEG is left behind without its SR.
    public func encodeSegmentation(
        _ labels: LabelMap, source: SourceImages, version: Int = 1, comments: [String] = [],
        outputs: Set<EncodedObject.Kind> = [], into directory: String
    ) throws(ResultsError) -> EncodedResult {
        try requireTask(.segmentation)
        guard labels.geometry == source.geometry else {
            throw ResultsError(
                .gridMismatch,
                "the label map is not on the source grid: label map \(labels.geometry); "
                    + "source \(source.geometry)", field: "geometry", series: source.seriesInstanceUID)
        }
        var timings: [String: Double] = [:]
        var clock = ContinuousClock.now
        let mapping = try SegmentMapping(manifest: manifest, uids: uids)
        let (pixels, counts) = try mapping.pixels(of: labels)
        let numbers = try configuration.seriesNumbers(version: version)
        try createDirectory(directory)

        let seg: SegmentationWriter.Written
        do throws(DICOMError) {
            let writer = try SegmentationWriter(
                grid: source.grid, pixels: pixels, segments: mapping.segments,
                series: SeriesIdentity(
                    uids: uids, seriesNumber: numbers.segmentation,
                    seriesDescription: configuration.segmentationDescription
                        ?? seriesDescription("segmentation", version: version)),
                content: ContentIdentity(
                    label: configuration.contentLabel, description: String(manifest.name.prefix(64)),
                    creator: configuration.contentCreator),
                equipment: configuration.equipment, uids: uids, omitEmptyFrames: configuration.omitEmptyFrames)
            seg = try writer.write(to: directory + "/SEG-\(writer.series.sopInstanceUID).dcm")
        } catch {
            throw ResultsError(error, writing: "the segmentation")
        }

        timings[EncodedObject.Kind.segmentation.rawValue] = seconds(since: clock)
        clock = .now
        let voxelVolume = source.grid.voxelVolume
        let segments = zip(mapping.segments, counts).map { segment, count in
            SegmentVolume(
                segmentNumber: segment.number, label: segment.label, voxelCount: count,
                cubicMillimetres: Double(count) * voxelVolume)
        }
        // The SEG alone is no result: without its report the outbox would send half of it.
        var finished = false
        defer { if !finished { try? FileManager.default.removeItem(atPath: seg.path) } }
        let report: MeasurementReport
        do throws(DICOMError) {
            let volumes = try zip(mapping.segments, segments).map { segment, measured throws(DICOMError) in
                try VolumeMeasurement(segment: segment, volume: measured.cubicMillimetres)
            }
            report = try MeasurementReport(
                procedureReported: Self.procedure(modality: source.modality), algorithm: algorithm,
                observer: configuration.observer,
                segmentation: SegmentationReference(seg, segments: mapping.segments),
                volumes: volumes)
        } catch {
            throw ResultsError(error, writing: "the volume report")
        }
        let sr = try writeReport(
            report, source: source, seriesNumber: numbers.report, version: version, comments: comments,
            into: directory)
        var objects = [
            EncodedObject(
                kind: .segmentation, path: seg.path, sopClassUID: seg.sopClassUID,
                sopInstanceUID: seg.sopInstanceUID, seriesInstanceUID: seg.seriesInstanceUID,
                seriesNumber: numbers.segmentation),
            sr
        ]
        timings[EncodedObject.Kind.report.rawValue] = seconds(since: clock)
        var notWritten: [String] = []
        if !outputs.isSubset(of: [.segmentation, .report]) {
            clock = .now
            var views = ResultViews()
            let present = zip(mapping.segments, segments).enumerated().filter { $0.element.1.voxelCount > 0 }
            views.labels = labels
            views.outlines = SegmentOutlines(
                labels: labels, values: mapping.labelValues.map { UInt16($0) })
            views.segments = present.map { index, pair in
                let rgb = manifest.labels?[index].color.map { $0.map { UInt8(clamping: $0) } }
                return ResultViews.Segment(
                    name: pair.0.label, color: rgb.map { SIMD3($0[0], $0[1], $0[2]) } ?? SIMD3(255, 0, 0),
                    labelIndex: index, millilitres: pair.1.millilitres)
            }
            timings["outlines"] = seconds(since: clock)
            do {
                let more = try writeViews(
                    views, source: source, numbers: numbers, version: version, outputs: outputs, produced: objects,
                    into: directory)
                objects += more.objects
                notWritten = more.notWritten
                timings.merge(more.timings) { $1 }
            } catch {
                try? FileManager.default.removeItem(atPath: sr.path)
                throw error
            }
        }
        finished = true
        return EncodedResult(objects: objects, segments: segments, notWritten: notWritten, timings: timings)
    }

    func requireTask(_ task: ModelManifest.Task) throws(ResultsError) {
        guard manifest.task == task else {
            throw ResultsError(
                .manifest, "the model's task is \(manifest.task.rawValue), not \(task.rawValue)", field: "task")
        }
    }

    /// "<model name> <what>", with " v<version>" from the second version on; at most 64
    /// characters (Series Description is LO).
    func seriesDescription(_ what: String, version: Int) -> String {
        let suffix = " " + what + (version > 1 ? " v\(version)" : "")
        return String(manifest.name.prefix(64 - suffix.count)) + suffix
    }

    func createDirectory(_ directory: String) throws(ResultsError) {
        do {
            try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        } catch {
            throw ResultsError(.encoding, "cannot create the output folder \(directory): \(error.localizedDescription)")
        }
    }
}
