import ArgumentParser
import Foundation
import Logging
import Node

/// `mambanode retry --config PATH --parked | --job ID`: re-queues parked outbox entries for an
/// immediate attempt by the running node (its sender picks them up within a second).
public struct RetryCommand: AsyncParsableCommand {
    public init() {}

    public static let configuration = CommandConfiguration(
        commandName: "retry",
        abstract: "Re-queue parked results for sending."
    )

    @Option(help: "The node configuration (YAML).") var config: String
    @Flag(help: "Re-queue every parked outbox entry.") var parked = false
    @Option(help: "Re-queue the parked outbox entries of one job.") var job: Int64?

    public func validate() throws {
        guard parked != (job != nil) else { throw ValidationError("give exactly one of --parked or --job ID") }
    }

    public func run() async throws {
        let configuration = try NodeConfiguration.load(from: config)
        let store = try NodeServer.openStore(configuration, logger: Logger(label: "mambanode"))
        let job = self.job
        let count = try await store.withRunning(migrating: false) {
            try await store.retryParked(jobID: job, now: Date())
        }
        print("re-queued \(count) parked outbox entr\(count == 1 ? "y" : "ies")")
    }
}
