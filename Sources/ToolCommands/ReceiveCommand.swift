import ArgumentParser
import DICOM
import DICOMNetwork
import Dispatch
import Foundation

/// `mambanode receive`: the storage SCP alone, storing into a directory. One line per stored
/// instance on standard output (UIDs and AE titles only, no patient data); association events on
/// standard error. SIGTERM or SIGINT stop it after the current associations.
public struct ReceiveCommand: AsyncParsableCommand {
    public init() {}

    public static let configuration = CommandConfiguration(
        commandName: "receive",
        abstract: "Receive DICOM instances (C-STORE) into a directory."
    )

    @Option(help: "TCP port to listen on.")
    var port: UInt16

    @Option(help: "Our AE title; associations calling another title are rejected.")
    var aet: String = "MAMBANODE"

    @Option(help: "Directory of the instance store (created when missing).")
    var store: String

    @Option(help: "Calling AE titles allowed to send, comma separated.")
    var allow: String?

    @Flag(help: "Accept any calling AE title (instead of --allow).")
    var acceptAny = false

    @Option(help: "Associations served at once; more are rejected.")
    var maxAssociations: Int = 8

    @Option(help: "Seconds a new connection may take to send its association request (PS3.8 ARTIM).")
    var acseTimeout: Int = 30

    public func validate() throws {
        if allow == nil && !acceptAny {
            throw ValidationError("no calling AE title is allowed: give --allow AE,… or --accept-any")
        }
        if allow != nil && acceptAny { throw ValidationError("--allow and --accept-any exclude each other") }
        if maxAssociations < 1 || maxAssociations > 1000 { throw ValidationError("--max-associations must be 1…1000") }
        if acseTimeout < 1 || acseTimeout > 3600 { throw ValidationError("--acse-timeout must be 1…3600") }
        _ = try serverConfiguration()
    }

    public func run() async throws {
        let server = try StorageServer(configuration: try serverConfiguration())
        let signals = [SIGTERM, SIGINT].map { number in
            signal(number, SIG_IGN)
            let source = DispatchSource.makeSignalSource(signal: number, queue: .global())
            source.setEventHandler { server.stop() }
            source.resume()
            return source
        }
        defer { signals.forEach { $0.cancel() } }
        let printer = Task { await Self.print(server.events) }
        Self.write("mambanode receive: \(aet)@port \(port), store \(store)\n", to: .standardError)
        try await server.run()
        await printer.value
    }

    private func serverConfiguration() throws -> StorageServerConfiguration {
        let titles = try (allow ?? "").split(separator: ",").map { try AETitle(String($0)) }
        var configuration = StorageServerConfiguration(
            aeTitle: try AETitle(aet), port: port, storeDirectory: store,
            callingAETitles: acceptAny ? .acceptAny : .allowList(Set(titles)))
        configuration.maxAssociations = maxAssociations
        configuration.acseTimeout = .seconds(acseTimeout)
        return configuration
    }

    private static func print(_ events: AsyncStream<StorageServerEvent>) async {
        for await event in events {
            switch event {
            case .instanceStored(let i):
                write(
                    "stored \(i.sopInstanceUID) \(i.transferSyntaxUID) from \(i.association)"
                        + (i.isDuplicate ? " duplicate" : "") + "\n", to: .standardOutput)
            case .instanceRefused(_, let status, let error):
                write("refused \(status): \(error)\n", to: .standardError)
            case .associationRejected(let a, let reason):
                write("rejected \(a): \(reason)\n", to: .standardError)
            case .tlsHandshakeFailed(let a, let reason):
                write("TLS refused \(a.peer): \(reason)\n", to: .standardError)
            case .associationAborted(let a, let reason):
                write("aborted \(a): \(reason)\n", to: .standardError)
            case .error(_, let error):
                write("error: \(error)\n", to: .standardError)
            case .associationAccepted, .associationReleased, .echo, .connectionDropped:
                break
            }
        }
    }

    /// Unbuffered, so that a reader (a test, a supervisor) sees each line at once.
    static func write(_ text: String, to handle: FileHandle) {
        handle.write(Data(text.utf8))
    }
}
