import ArgumentParser
import Logging
import Node
import ToolCommands

/// `mambanode serve --config PATH`: runs the node until SIGTERM or SIGINT.
public struct ServeCommand: AsyncParsableCommand {
    public init() {}

    public static let configuration = CommandConfiguration(
        commandName: "serve",
        abstract: "Run the node: receive, track series, route, and deliver results."
    )

    @Option(help: "The node configuration (YAML), e.g. Config/node.yaml.")
    var config: String

    public func run() async throws {
        let configuration: NodeConfiguration
        do {
            configuration = try NodeConfiguration.load(from: config)
        } catch {
            printError("mambanode serve: \(error)")
            throw ExitCode(2)
        }
        LineLogHandler.bootstrap(configuration.logging)
        try await NodeServer.withPipeline(configuration: configuration).run()
    }
}
