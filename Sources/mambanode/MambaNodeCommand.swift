import ArgumentParser

/// The `mambanode` command line: thin wrappers that parse arguments and call the modules.
@main
struct MambaNodeCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "mambanode",
        abstract: "A DICOM node that runs nnMamba models and returns SEG and SR objects to the PACS.",
        subcommands: [
            DumpCommand.self,
            SamplesCommand.self,
            VolumeCommand.self,
            BenchCommand.self,
        ]
    )
}
