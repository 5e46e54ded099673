import ArgumentParser
import DICOM
import Foundation
import ModelPackage
import Pipeline
import Results
import Volume

/// `mambanode process --model DIR --input DIR --output DIR`: one-shot, no network. A folder of
/// DICOM in, SEG/SR files out — the job runner's steps without the node around them.
public struct ProcessCommand: ParsableCommand {
    public init() {}

    public static let configuration = CommandConfiguration(
        commandName: "process",
        abstract: "Run a model package on DICOM series in a folder and write SEG/SR files (no network)."
    )

    @Option(help: "Model package folder.") var model: String
    @Option(help: "Folder of DICOM files (searched recursively).") var input: String
    @Option(help: "Output folder; results go to one subfolder per processed series.") var output: String
    @Option(help: "Process only this Series Instance UID (single-input models).") var series: String?
    @Option(name: .customLong("channel"), help: "Multi-input models: NAME=SERIES_UID for each input of model.json.")
    var channels: [String] = []
    @Option(help: "Objects to write, comma-separated: seg, sr (always written), rtstruct, gsps, sc, ko.")
    var outputs = "seg,sr"
    @Flag(help: "Secondary Capture overlays of every source slice, not only of those with a finding.")
    var overlayAllSlices = false
    @Option(help: "Opacity (0–1) of the segments' fill in the overlays; 0 draws outlines only.")
    var overlayFill = 0.0

    public func validate() throws {
        do { _ = try EncodedObject.Kind.parseList(outputs) } catch {
            throw ValidationError("--outputs: \(error.message)")
        }
    }

    public func run() throws {
        do {
            let package = try ModelPackage(directory: model)
            var configuration = try NodeIdentity.encoderConfiguration(aeTitle: "MAMBANODE")
            configuration.overlayAllSlices = overlayAllSlices
            configuration.overlayFillOpacity = overlayFill
            let producer = try ResultProducer(package: package, encoder: configuration, uids: UIDGenerator())
            let found = try Series.scan(directory: input)
            let inputs = package.manifest.inputs
            var runs: [[Series]] = []
            if inputs.count > 1 || !channels.isEmpty {
                var byName: [String: String] = [:]
                for channel in channels {
                    let parts = channel.split(separator: "=", maxSplits: 1).map(String.init)
                    guard parts.count == 2 else {
                        throw ValidationError("--channel expects NAME=SERIES_UID, got '\(channel)'")
                    }
                    byName[parts[0]] = parts[1]
                }
                runs = [
                    try inputs.map { input in
                        guard let uid = byName[input.name] else {
                            throw ValidationError("--channel \(input.name)=SERIES_UID is missing")
                        }
                        guard let s = found.first(where: { $0.seriesInstanceUID == uid }) else {
                            throw ValidationError("series \(uid) (channel \(input.name)) is not in \(self.input)")
                        }
                        return s
                    }
                ]
            } else if let series {
                guard let s = found.first(where: { $0.seriesInstanceUID == series }) else {
                    throw ValidationError("series \(series) is not in \(input)")
                }
                runs = [[s]]
            } else {
                runs = found.map { [$0] }
            }
            guard !runs.isEmpty else { throw ValidationError("no DICOM series found in \(input)") }
            var failures = 0
            for run in runs {
                let uid = run[0].seriesInstanceUID
                do {
                    let produced = try producer.produce(
                        run, version: 1, outputs: try EncodedObject.Kind.parseList(outputs), into: output + "/" + uid)
                    print(
                        "series \(uid): "
                            + produced.timings.sorted { $0.key < $1.key }
                            .map { String(format: "%@ %.2f s", $0.key, $0.value) }.joined(separator: ", "))
                    for warning in produced.warnings { print("  warning: \(warning)") }
                    switch produced.outcome {
                    case .classification(let score):
                        // The logit to 17 significant digits: Tools/calibrate.py fits on it.
                        print(
                            String(
                                format: "  classification: probability %.4f → %@ (logit %.17g)", score.probability,
                                score.positive ? "positive" : "negative", score.logit))
                    case .landmarks(let byName):
                        for (name, p) in byName.sorted(by: { $0.key < $1.key }) {
                            print(
                                String(
                                    format: "  landmark %@: (%.1f, %.1f, %.1f) mm LPS", name, p.patient.x, p.patient.y,
                                    p.patient.z))
                        }
                    case .segmentation:
                        for segment in produced.encoded.segments {
                            print(
                                String(
                                    format: "  segment %d %@: %.2f mL", segment.segmentNumber, segment.label,
                                    segment.millilitres))
                        }
                    }
                    for object in produced.encoded.objects {
                        print(
                            "  \(object.kind.rawValue)\t\(object.path)\t\(object.sopClassUID)\t\(object.sopInstanceUID)"
                        )
                    }
                } catch {
                    failures += 1
                    printError("mambanode process: series \(uid): \(error)")
                }
            }
            if failures > 0 { throw ExitCode(1) }
        } catch let error as ExitCode {
            throw error
        } catch let error as ValidationError {
            throw error
        } catch {
            printError("mambanode process: \(error)")
            throw ExitCode(1)
        }
    }
}
