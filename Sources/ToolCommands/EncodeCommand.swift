import ArgumentParser
import DICOM
import Foundation
import ModelPackage
import Pipeline
import Results
import Volume

/// `mambanode encode --source DIR --labels LABELS.nii.gz --model DIR --output DIR [--version N]`:
/// writes the SEG and the TID 1500 SR of a label map on the grid of a source series, with the
/// segments, codes and algorithm of a model package, and prints what it wrote.
public struct EncodeCommand: ParsableCommand {
    public init() {}

    public static let configuration = CommandConfiguration(
        commandName: "encode",
        abstract: "Encode a label map on a source series as DICOM SEG and TID 1500 SR.")

    @Option(help: "Folder (searched recursively) holding the source series.") var source: String
    @Option(
        help:
            "Label map (NIfTI) on the source series' voxel centres, its axes in any order and direction (as dcm2niix, nibabel or SimpleITK write it)."
    )
    var labels: String
    @Flag(help: "Resample a label map on another grid onto the source grid (nearest neighbour) instead of refusing it.")
    var resampleLabels = false
    @Option(help: "Model package folder (model.json names the labels).") var model: String
    @Option(help: "Output folder (created when missing).") var output: String
    @Option(help: "Result version: later versions get higher Series Numbers.") var version = 1
    @Option(help: "Series Instance UID of the source when the folder holds several series.") var series: String?
    @Option(help: "Device Observer UID of the report (default: derived from the host name).") var deviceUID: String?

    public func validate() throws {
        guard version >= 1 else { throw ValidationError("--version must be at least 1") }
        if let deviceUID, !UID.isValid(deviceUID) { throw ValidationError("--device-uid is not a valid UID") }
    }

    public func run() throws {
        do {
            let package = try ModelPackage(directory: model)
            let chosen = try VolumeCommand.choose(series, from: Series.scan(directory: source))
            // Only where the slices are matters here, so the stack is laid out but not decoded.
            let stacks = try chosen.stacks()
            let layout = try stacks.primary.layout(series: chosen.seriesInstanceUID)
            let images = try SourceImages(
                layout: layout, frameOfReferenceUID: stacks.primary.key.frameOfReferenceUID,
                series: chosen)
            let labelMap = try Self.labelMap(
                NIfTI.read(contentsOf: labels), on: images.geometry, resample: resampleLabels)
            let encoder = try ResultEncoder(
                manifest: package.manifest,
                configuration: try NodeIdentity.encoderConfiguration(aeTitle: "MAMBANODE", deviceUID: deviceUID),
                uids: UIDGenerator())
            let result = try encoder.encodeSegmentation(labelMap, source: images, version: version, into: output)
            for object in result.objects {
                print(
                    [
                        object.kind.rawValue, object.path, object.sopClassUID, object.sopInstanceUID,
                        "series \(object.seriesNumber)"
                    ].joined(separator: "\t"))
                guard object.kind == .segmentation else { continue }
                for segment in result.segments {
                    print(
                        "  segment \(segment.segmentNumber)\t\(segment.label)\t\(segment.voxelCount) voxels\t"
                            + String(format: "%.3f mL", segment.millilitres))
                }
            }
        } catch {
            // ResultsError, VolumeError, ModelPackageError and DICOMError all name the field,
            // tag or series and carry no patient data.
            printError("mambanode encode: \(error)")
            throw ExitCode(1)
        }
    }

    /// The label map on the source grid, saying on standard output when its axes were reordered
    /// or (only with `resample`) when it was resampled from another grid.
    static func labelMap(_ volume: Volume, on source: Geometry, resample: Bool) throws(ResultsError) -> LabelMap {
        let labelMap: LabelMap
        do throws(ResultsError) {
            labelMap = try LabelMap(volume, on: source)
        } catch {
            guard error.code == .gridMismatch, resample else { throw error }
            print("labels\tresampled nearest-neighbour onto the source grid (\(error.field ?? "grid") differed)")
            return try LabelMap(resampling: volume, onto: source)
        }
        if !labelMap.mapping.isIdentity {
            let axes = zip(labelMap.mapping.axis, labelMap.mapping.reversed).map { axis, reversed in
                (reversed ? "-" : "+") + ["i", "j", "k"][axis]
            }
            print("labels\treordered onto the source grid (label axes along source \(axes.joined(separator: " ")))")
        }
        return labelMap
    }
}
