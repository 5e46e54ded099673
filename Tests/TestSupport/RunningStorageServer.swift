import DICOM
import DICOMNetwork
import Foundation
import Synchronization

/// A ``StorageServer`` running in-process on a free loopback port, with its events collected.
///
/// ```swift
/// let server = try await RunningStorageServer(store: dir.path) { $0.callingAETitles = .acceptAny }
/// … send to server.port …
/// let events = await server.stop()
/// ```
public final class RunningStorageServer: Sendable {
    public static let aeTitle = try! AETitle("MAMBANODE")
    public static let allowedCallingAETitle = try! AETitle("STORESCU")

    public let server: StorageServer
    public let port: UInt16
    private let collected = EventLog()
    private let runTask: Task<DICOMError?, Never>
    private let eventTask: Task<Void, Never>

    /// Starts a server allowing calling AE `STORESCU`, called `MAMBANODE`; `configure` may change that.
    public init(
        store: String, configure: (inout StorageServerConfiguration) -> Void = { _ in },
        onInstance: (@Sendable (ReceivedInstance) throws -> Void)? = nil,
        admit: (@Sendable (AssociationInfo) -> AssociationAdmission)? = nil
    ) async throws {
        port = FreePort.allocate()
        var configuration = StorageServerConfiguration(
            aeTitle: Self.aeTitle, port: port, storeDirectory: store,
            callingAETitles: .allowList([Self.allowedCallingAETitle]))
        configure(&configuration)
        let server = try StorageServer(configuration: configuration, onInstance: onInstance, admit: admit)
        self.server = server
        runTask = Task {
            do throws(DICOMError) {
                try await server.run()
                return nil
            } catch { return error }
        }
        let collected = self.collected
        eventTask = Task { [collected] in
            for await event in server.events { collected.append(event) }
        }
        let port = self.port
        guard await waitUntil({ FreePort.isListening(port) }) else {
            throw ToolError("server did not listen on \(port)")
        }
    }

    /// Events so far.
    public var events: [StorageServerEvent] { collected.all }

    /// Stops the server, waits for `run()` to return, and returns every event. Throws what `run()` threw.
    @discardableResult
    public func stop() async throws -> [StorageServerEvent] {
        server.stop()
        if let error = await runTask.value { throw error }
        await eventTask.value
        return events
    }

    /// Instances stored so far.
    public var storedInstances: [ReceivedInstance] {
        events.compactMap { if case .instanceStored(let i) = $0 { return i } else { return nil } }
    }

    /// Rejection reasons so far.
    public var rejections: [String] {
        events.compactMap { if case .associationRejected(_, let reason) = $0 { return reason } else { return nil } }
    }
}

private final class EventLog: Sendable {
    private let events = Mutex<[StorageServerEvent]>([])
    func append(_ event: StorageServerEvent) { events.withLock { $0.append(event) } }
    var all: [StorageServerEvent] { events.withLock { $0 } }
}
