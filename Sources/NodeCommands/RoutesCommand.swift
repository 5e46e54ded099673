import ArgumentParser
import DICOM
import Foundation
import Node
import ToolCommands

/// `mambanode routes test --config PATH PATH…`: which route each file or series would take, and
/// why the others did not match (docs/node-behaviour.md, Rules: a dry run
/// for rules that are data).
public struct RoutesCommand: ParsableCommand {
    public init() {}

    public static let configuration = CommandConfiguration(
        commandName: "routes",
        abstract: "Inspect routing rules.",
        subcommands: [Test.self]
    )

    struct Test: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Show which route files or folders would take, and why other routes did not match."
        )

        @Option(help: "The node configuration (YAML).") var config: String
        @Option(help: "Calling AE title to assume for the association.") var callingAe: String?
        @Option(help: "Called AE title to assume (default: the node's).") var calledAe: String?
        @Option(help: "Source IP address to assume.") var sourceIp: String?
        @Argument(help: "DICOM files or folders (one line per series found).") var paths: [String]

        func run() throws {
            let configuration = try NodeConfiguration.load(from: config)
            let router = Router(configuration)
            var firstFileOfSeries: [String: String] = [:]
            var order: [String] = []
            for file in try Self.files(in: paths) {
                guard let header = try? DataSet.read(contentsOf: file, headerOnly: true),
                    let series = try? header.string(.seriesInstanceUID)
                else {
                    printError("\(file): not a DICOM file with a Series Instance UID, skipped")
                    continue
                }
                if firstFileOfSeries[series] == nil {
                    firstFileOfSeries[series] = file
                    order.append(series)
                }
            }
            for series in order {
                let file = firstFileOfSeries[series]!
                let header = try DataSet.read(contentsOf: file, headerOnly: true)
                let input = RoutingInput(
                    dataSet: header, tags: router.tagsOfInterest, callingAETitle: callingAe,
                    calledAETitle: calledAe ?? configuration.listener.aeTitle.value, sourceAddress: sourceIp)
                let chosen = router.route(for: input)
                print(
                    "series \(series) (\(file)): "
                        + (chosen.map {
                            "route '\($0.name)' → model\($0.models.count == 1 ? "" : "s") '\($0.models.joined(separator: "', '"))'"
                        }
                            ?? "no route (stored and reported, not processed)"))
                for evaluation in router.evaluate(input) {
                    if evaluation.matched {
                        let note =
                            evaluation.route.name == chosen?.name ? "matches (chosen)" : "matches (lower priority)"
                        print("  \(evaluation.route.name): \(note)")
                    } else {
                        print(
                            "  \(evaluation.route.name): no — "
                                + evaluation.failed.map(\.description).joined(separator: "; "))
                    }
                }
            }
        }

        static func files(in paths: [String]) throws -> [String] {
            var result: [String] = []
            for path in paths {
                var isDirectory: ObjCBool = false
                guard FileManager.default.fileExists(atPath: path, isDirectory: &isDirectory) else {
                    throw ValidationError("\(path): no such file or folder")
                }
                if !isDirectory.boolValue {
                    result.append(path)
                    continue
                }
                let enumerator = FileManager.default.enumerator(atPath: path)
                while let name = enumerator?.nextObject() as? String {
                    let full = path + "/" + name
                    var dir: ObjCBool = false
                    if FileManager.default.fileExists(atPath: full, isDirectory: &dir), !dir.boolValue {
                        result.append(full)
                    }
                }
            }
            return result.sorted()
        }
    }
}
