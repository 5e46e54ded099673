import ArgumentParser
import Foundation
import Node

/// `mambanode status --config PATH`: series, jobs and outbox from the node's database (works
/// while the node runs: SQLite WAL readers do not block it).
public struct StatusCommand: ParsableCommand {
    public init() {}

    public static let configuration = CommandConfiguration(
        commandName: "status",
        abstract: "Show series, jobs and outbox entries from the node's database."
    )

    @Option(help: "The node configuration (YAML).")
    var config: String

    public func run() throws {
        let configuration = try NodeConfiguration.load(from: config)
        let store = NodeStore(
            database: try NodeDatabase(path: configuration.storage.databasePath),
            router: Router(configuration))
        let series = try store.allSeries()
        print("Series (\(series.count))")
        for s in series {
            print(
                "  \(s.seriesInstanceUID)  \(s.state.rawValue)  instances \(s.instanceCount)  version \(s.version)"
                    + "  route \(s.route ?? "-")" + (s.reason.map { "  (\($0))" } ?? "")
                    + (s.interruption.map { "  [may be incomplete: \($0)]" } ?? ""))
        }
        let jobs = try store.jobs()
        print("Jobs (\(jobs.count))")
        for j in jobs {
            print(
                "  #\(j.id ?? 0)  \(j.state.rawValue)  step \(j.step.rawValue)  route \(j.route)  model \(j.model)"
                    + "  attempts \(j.attempts)" + (j.reason.map { "  (\($0))" } ?? ""))
        }
        let outbox = try store.outbox()
        print("Outbox (\(outbox.count))")
        for o in outbox {
            print(
                "  #\(o.id ?? 0)  \(o.state.rawValue)  \(o.destination)  \(o.sopInstanceUID)  attempts \(o.attempts)"
                    + (o.lastStatus.map { "  status \($0)" } ?? "") + (o.lastError.map { "  (\($0))" } ?? ""))
        }
    }
}
