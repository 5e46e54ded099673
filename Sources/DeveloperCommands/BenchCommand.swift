import ArgumentParser

/// `mambanode bench …`: benchmarks that print figures and the ratio to a reference measured in
/// the same run. Benchmarks are not tests: they assert nothing.
public struct BenchCommand: AsyncParsableCommand {
    public init() {}

    public static let configuration = CommandConfiguration(
        commandName: "bench",
        abstract: "Measure throughput against a reference tool in the same run.",
        subcommands: [
            BenchIngestCommand.self,
            BenchEngineCommand.self,
            BenchVolumeCommand.self,
            BenchSegCommand.self,
            BenchOutputsCommand.self,
            BenchNodeCommand.self,
            BenchSoakCommand.self,
            BenchClusterCommand.self,
            BenchAPICommand.self
        ]
    )
}
