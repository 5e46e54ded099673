import ArgumentParser
import Foundation
import Logging
import Node

/// `mambanode status --config PATH`: series, jobs and outbox from the node's database (works
/// while the node runs: SQLite WAL readers do not block it). With several nodes on one PostgreSQL
/// database it shows the whole cluster: its nodes, and the node that holds each job.
public struct StatusCommand: AsyncParsableCommand {
    public init() {}

    public static let configuration = CommandConfiguration(
        commandName: "status",
        abstract: "Show series, jobs and outbox entries from the node's database."
    )

    @Option(help: "The node configuration (YAML).")
    var config: String

    public func run() async throws {
        let configuration = try NodeConfiguration.load(from: config)
        let store = try NodeServer.openStore(configuration, logger: Logger(label: "mambanode"))
        try await store.withRunning(migrating: false) {
            if store is PostgreSQLNodeStore {
                let nodes = try await store.nodes()
                let now = Date()
                print("Nodes (\(nodes.count))")
                for n in nodes {
                    let age = Int(now.timeIntervalSince(n.heartbeatAt))
                    let alive = Double(age) <= 3 * configuration.cluster.jobLease
                    print(
                        "  \(n.name)  \(alive ? "alive" : "silent")  heartbeat \(age) s ago  roles \(n.roles.joined(separator: ","))"
                    )
                }
            }
            let series = try await store.allSeries()
            print("Series (\(series.count))")
            for s in series {
                print(
                    "  \(s.seriesInstanceUID)  \(s.state.rawValue)  instances \(s.instanceCount)  version \(s.version)"
                        + "  route \(s.route ?? "-")" + (s.reason.map { "  (\($0))" } ?? "")
                        + (s.interruption.map { "  [may be incomplete: \($0)]" } ?? ""))
            }
            let jobs = try await store.jobs(state: nil)
            print("Jobs (\(jobs.count))")
            for j in jobs {
                print(
                    "  #\(j.id ?? 0)  \(j.state.rawValue)  step \(j.step.rawValue)  route \(j.route)  model \(j.model)"
                        + "  attempts \(j.attempts)" + (j.leaseOwner.map { "  node \($0)" } ?? "")
                        + (j.reason.map { "  (\($0))" } ?? ""))
            }
            let outbox = try await store.outbox(state: nil)
            print("Outbox (\(outbox.count))")
            for o in outbox {
                print(
                    "  #\(o.id ?? 0)  \(o.state.rawValue)  \(o.destination)  \(o.sopInstanceUID)  attempts \(o.attempts)"
                        + (o.lastStatus.map { "  status \($0)" } ?? "") + (o.lastError.map { "  (\($0))" } ?? ""))
            }
        }
    }
}
