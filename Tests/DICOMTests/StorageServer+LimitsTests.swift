import DICOM
import DICOMNetwork
import Foundation
import TestSupport
import Testing

/// Admission refusals and per-association limits of the storage SCP,
/// checked with DCMTK's echoscu/storescu, which print the A-ASSOCIATE-RJ fields they receive.
@Suite struct StorageServerLimitsTests {
    static func echo(_ port: UInt16) async throws -> ToolResult {
        try await runTool("echoscu", ["-aet", "STORESCU", "-aec", "MAMBANODE", "127.0.0.1", "\(port)"])
    }

    @Test func resourceShortageIsRejectedTransientLocalLimitExceeded() async throws {
        let dir = TemporaryDirectory("admit-disk")
        let server = try await RunningStorageServer(
            store: try dir.subdirectory("store"),
            admit: { _ in .refuseResources(reason: "free disk 1 MiB is below the threshold 2 MiB") })
        let echo = try await Self.echo(server.port)
        try await server.stop()
        #expect(echo.status != 0)
        #expect(
            echo.errorOutput.contains("Result: Rejected Transient, Source: Service Provider (Presentation Related)"),
            "\(echo.errorOutput)")
        #expect(echo.errorOutput.contains("Reason: Local Limit Exceeded"), "\(echo.errorOutput)")
        #expect(server.rejections == ["free disk 1 MiB is below the threshold 2 MiB"])
    }

    @Test func disallowedSourceIsRejectedPermanentNoReason() async throws {
        let dir = TemporaryDirectory("admit-host")
        let seen = LockedValue<[String]>([])
        let server = try await RunningStorageServer(
            store: try dir.subdirectory("store"),
            admit: { association in
                seen.update { $0.append(association.peer) }
                return .refuseCallingHost(reason: "source address \(association.peer) is not allowed")
            })
        let echo = try await Self.echo(server.port)
        try await server.stop()
        #expect(echo.status != 0)
        #expect(echo.errorOutput.contains("Result: Rejected Permanent, Source: Service User"), "\(echo.errorOutput)")
        #expect(seen.value == ["127.0.0.1"])
        #expect(server.rejections == ["source address 127.0.0.1 is not allowed"])
    }

    @Test func instancesBeyondTheAssociationLimitAreRefusedWithOutOfResources() async throws {
        let dir = TemporaryDirectory("limit-count")
        let files = try SyntheticInstances.ctSeries(count: 4, in: try dir.subdirectory("in"))
        let server = try await RunningStorageServer(store: try dir.subdirectory("store")) {
            $0.maxInstancesPerAssociation = 3
        }
        _ = try await runTool(
            "storescu",
            ["-aet", "STORESCU", "-aec", "MAMBANODE", "127.0.0.1", "\(server.port)"]
                + files.map(\.path))
        // A new association starts counting again.
        let again = try await runTool(
            "storescu",
            [
                "-aet", "STORESCU", "-aec", "MAMBANODE", "127.0.0.1", "\(server.port)",
                files[3].path
            ])
        let events = try await server.stop()
        #expect(again.status == 0, "\(again.errorOutput)")
        let refusals = events.compactMap { event -> (DIMSEStatus, DICOMError)? in
            if case .instanceRefused(_, let status, let error) = event { return (status, error) } else { return nil }
        }
        #expect(refusals.map(\.0) == [.outOfResources])
        #expect(refusals.first?.1.message.contains("max_instances_per_association") == true)
        #expect(server.storedInstances.map(\.sopInstanceUID) == files.map(\.sopInstanceUID))
        #expect(try FileManager.default.contentsOfDirectory(atPath: server.server.store.incomingDirectory).isEmpty)
    }

    @Test func instancesLargerThanTheCapAreRefusedAndNotKept() async throws {
        let dir = TemporaryDirectory("limit-size")
        let small = try SyntheticInstances.ctSeries(count: 1, rows: 8, columns: 8, in: try dir.subdirectory("small"))[0]
        let large = try SyntheticInstances.ctSeries(
            count: 1, rows: 256, columns: 256, in: try dir.subdirectory("large"))[0]
        let server = try await RunningStorageServer(store: try dir.subdirectory("store")) {
            $0.maxInstanceBytes = 64 * 1024
        }
        _ = try await runTool(
            "storescu",
            [
                "-aet", "STORESCU", "-aec", "MAMBANODE", "127.0.0.1", "\(server.port)",
                small.path, large.path
            ])
        let events = try await server.stop()
        let refused = events.compactMap { event -> DIMSEStatus? in
            if case .instanceRefused(_, let status, _) = event { return status } else { return nil }
        }
        #expect(refused == [.outOfResources])
        #expect(server.storedInstances.map(\.sopInstanceUID) == [small.sopInstanceUID])
        let kept = try FileManager.default.contentsOfDirectory(atPath: server.server.store.directory).filter {
            $0.hasSuffix(".dcm")
        }
        #expect(kept == [small.sopInstanceUID + ".dcm"])
        #expect(try FileManager.default.contentsOfDirectory(atPath: server.server.store.incomingDirectory).isEmpty)
    }
}

/// A value shared with a callback on another thread.
final class LockedValue<T: Sendable>: @unchecked Sendable {
    private let lock = NSLock()
    private var stored: T
    init(_ value: T) { stored = value }
    var value: T { lock.withLock { stored } }
    func update(_ body: (inout T) -> Void) { lock.withLock { body(&stored) } }
}
