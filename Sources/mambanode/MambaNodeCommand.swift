import ArgumentParser
import DeveloperCommands
import Foundation
import NNMamba
import NodeCommands
import ToolCommands

/// The `mambanode` command line: thin wrappers that parse arguments and call the modules. The
/// commands live in three targets (Package.swift): the node's own (NodeCommands), the offline tools
/// that do not link the node (ToolCommands), and developer commands (DeveloperCommands).
@main
struct MambaNodeCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "mambanode",
        abstract: "A DICOM node that runs nnMamba models and returns SEG and SR objects to the PACS.",
        subcommands: [
            // The node
            ServeCommand.self,
            StatusCommand.self,
            RoutesCommand.self,
            RetryCommand.self,
            // Offline tools
            ProcessCommand.self,
            ReceiveCommand.self,
            SendCommand.self,
            DumpCommand.self,
            VolumeCommand.self,
            EncodeCommand.self,
            InferCommand.self,
            ModelsCommand.self,
            ConformanceCommand.self,
            // Developer commands
            SamplesCommand.self,
            BenchCommand.self,
            GoldenCommand.self
        ]
    )

    static func main() async {
        reexecWithOpenBLASCoreIfNeeded()
        await main(nil)
    }

    /// OpenBLAS reads OPENBLAS_CORETYPE only when it loads, so a mis-detected (generic) core can
    /// only be fixed by re-executing the process with the variable set (docs/platform-notes.md §1).
    /// A value the user set is never overridden, which also stops a second re-exec.
    private static func reexecWithOpenBLASCoreIfNeeded() {
        guard let core = OpenBLASCore.recommendedOverride(environment: ProcessInfo.processInfo.environment) else {
            return
        }
        FileHandle.standardError.write(
            Data(
                "mambanode: OpenBLAS chose core '\(OpenBLASCore.currentName)'; restarting with OPENBLAS_CORETYPE=\(core)\n"
                    .utf8))
        setenv("OPENBLAS_CORETYPE", core, 1)
        var argv: [UnsafeMutablePointer<CChar>?] = CommandLine.arguments.map { strdup($0) } + [nil]
        execv("/proc/self/exe", &argv)
        // Only reached if execv failed: carry on with the slow kernel.
        FileHandle.standardError.write(Data("mambanode: re-exec failed (errno \(errno)); continuing\n".utf8))
    }
}

/// `mambanode models …`: model package tools (verify is an offline tool; create-untrained makes
/// packages with synthetic weights for tests and plumbing checks).
struct ModelsCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "models",
        abstract: "Inspect and check model packages.",
        subcommands: [ModelsVerifyCommand.self, ModelsCreateUntrainedCommand.self]
    )
}
