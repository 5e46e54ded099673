import ArgumentParser
import DICOM
import Foundation
import ModelPackage
import Results
import Volume

/// `mambanode encode --source DIR --labels LABELS.nii.gz --model DIR --output DIR [--version N]`:
/// writes the SEG and the TID 1500 SR of a label map on the grid of a source series, with the
/// segments, codes and algorithm of a model package, and prints what it wrote.
struct EncodeCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "encode",
        abstract: "Encode a label map on a source series as DICOM SEG and TID 1500 SR.")

    @Option(help: "Folder (searched recursively) holding the source series.") var source: String
    @Option(help: "Label map (NIfTI) on the source series' grid.") var labels: String
    @Option(help: "Model package folder (model.json names the labels).") var model: String
    @Option(help: "Output folder (created when missing).") var output: String
    @Option(help: "Result version: later versions get higher Series Numbers.") var version = 1
    @Option(help: "Series Instance UID of the source when the folder holds several series.") var series: String?
    @Option(help: "Device Observer UID of the report (default: derived from the host name).") var deviceUID: String?

    func validate() throws {
        guard version >= 1 else { throw ValidationError("--version must be at least 1") }
        if let deviceUID, !UID.isValid(deviceUID) { throw ValidationError("--device-uid is not a valid UID") }
    }

    func run() throws {
        do {
            let package = try ModelPackage(directory: model)
            let chosen = try VolumeCommand.choose(series, from: Series.scan(directory: source))
            // Only where the slices are matters here, so the stack is laid out but not decoded.
            let stacks = try chosen.stacks()
            let layout = try stacks.primary.layout(series: chosen.seriesInstanceUID)
            let images = try SourceImages(layout: layout, frameOfReferenceUID: stacks.primary.key.frameOfReferenceUID,
                                          series: chosen)
            let labelMap = try LabelMap(NIfTI.read(contentsOf: labels), on: images.geometry)
            let encoder = try ResultEncoder(manifest: package.manifest, configuration: try Self.encoderConfiguration(deviceUID: deviceUID),
                                            uids: UIDGenerator())
            let result = try encoder.encodeSegmentation(labelMap, source: images, version: version, into: output)
            for object in result.objects {
                print([object.kind.rawValue, object.path, object.sopClassUID, object.sopInstanceUID,
                       "series \(object.seriesNumber)"].joined(separator: "\t"))
                guard object.kind == .segmentation else { continue }
                for segment in result.segments {
                    print("  segment \(segment.segmentNumber)\t\(segment.label)\t\(segment.voxelCount) voxels\t"
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

    /// The node's identity as this one-off command presents it: the host name as device serial
    /// number, and a Device Observer UID that stays the same on one host (2.25 and a 64-bit
    /// FNV-1a hash of the host name) unless given.
    static func encoderConfiguration(deviceUID: String?) throws(DICOMError) -> ResultEncoderConfiguration {
        let host = String(ProcessInfo.processInfo.hostName.prefix(64))
        var hash: UInt64 = 0xcbf2_9ce4_8422_2325
        for byte in host.utf8 { hash = (hash ^ UInt64(byte)) &* 0x100_0000_01b3 }
        let equipment = try EquipmentIdentity(deviceSerialNumber: host.isEmpty ? "mambanode" : host,
                                              softwareVersions: "MambaNode")
        let observer = try DeviceObserver(uid: deviceUID ?? "2.25.\(max(hash, 1))", name: "MAMBANODE")
        return ResultEncoderConfiguration(equipment: equipment, observer: observer)
    }
}
