import ArgumentParser
import DICOM
import Foundation
import ModelPackage
import Pipeline
import Results
import Volume

/// `mambanode encode --source DIR --labels LABELS.nii.gz --model DIR --output DIR [--version N]
/// [--outputs seg,sr,rtstruct,gsps,sc,ko]`: writes the SEG and the TID 1500 SR of a label map on the
/// grid of a source series, with the segments, codes and algorithm of a model package, and the
/// other objects asked for; prints each file with its SOP Class and Instance UID.
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
    @Option(
        help:
            "Objects to write, comma-separated: seg, sr (always written: the report references the segmentation), rtstruct, gsps, sc, ko."
    )
    var outputs = "seg,sr"
    @Flag(help: "Secondary Capture overlays of every source slice, not only of those with a finding.")
    var overlayAllSlices = false
    @Option(help: "Opacity (0–1) of the segments' fill in the overlays; 0 draws outlines only.")
    var overlayFill = 0.0

    public func validate() throws {
        guard version >= 1 else { throw ValidationError("--version must be at least 1") }
        if let deviceUID, !UID.isValid(deviceUID) { throw ValidationError("--device-uid is not a valid UID") }
        do { _ = try EncodedObject.Kind.parseList(outputs) } catch {
            throw ValidationError("--outputs: \(error.message)")
        }
    }

    public func run() throws {
        do {
            let package = try ModelPackage(directory: model)
            let kinds = try EncodedObject.Kind.parseList(outputs)
            let chosen = try VolumeCommand.choose(series, from: Series.scan(directory: source))
            let images: SourceImages
            if kinds.contains(.secondaryCapture) || kinds.contains(.presentationState) {
                // Overlays draw the source's pixels, and a presentation state's window may come from them.
                images = try SourceImages(volume: try chosen.assemble().volume, series: chosen)
            } else {
                // Only where the slices are matters here, so the stack is laid out but not decoded.
                let stacks = try chosen.stacks()
                let layout = try stacks.primary.layout(series: chosen.seriesInstanceUID)
                images = try SourceImages(
                    layout: layout, frameOfReferenceUID: stacks.primary.key.frameOfReferenceUID, series: chosen)
            }
            let labelMap = try Self.labelMap(
                NIfTI.read(contentsOf: labels), on: images.geometry, resample: resampleLabels)
            var configuration = try NodeIdentity.encoderConfiguration(aeTitle: "MAMBANODE", deviceUID: deviceUID)
            configuration.overlayAllSlices = overlayAllSlices
            configuration.overlayFillOpacity = overlayFill
            let encoder = try ResultEncoder(
                manifest: package.manifest, configuration: configuration, uids: UIDGenerator())
            let result = try encoder.encodeSegmentation(
                labelMap, source: images, version: version, outputs: kinds, into: output)
            for reason in result.notWritten { print("warning\t\(reason)") }
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
