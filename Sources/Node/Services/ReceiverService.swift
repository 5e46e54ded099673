import DICOM
import DICOMNetwork
import Logging
import ServiceLifecycle

/// The DICOM listener as a service: stops taking associations on graceful shutdown and lets the
/// current ones finish.
public struct ReceiverService: Service {
    let server: StorageServer
    let logger: Logger
    let audit: AuditTrail?
    let metrics: NodeMetrics?

    public init(server: StorageServer, logger: Logger, audit: AuditTrail? = nil, metrics: NodeMetrics? = nil) {
        self.server = server
        self.logger = logger
        self.audit = audit
        self.metrics = metrics
    }

    public func run() async throws {
        let server = self.server
        let logger = self.logger
        let audit = self.audit
        let metrics = self.metrics
        let events = Task {
            for await event in server.events {
                ReceiverService.log(event, logger)
                if case .connectionDropped = event { metrics?.connectionsWithoutAssociation.increment() }
                await audit?.record(event)
            }
        }
        let outcome: Result<Void, any Error>
        do {
            try await cancelWhenGracefulShutdown { try await server.run() }
            outcome = .success(())
        } catch {
            outcome = .failure(error)
        }
        // run() has finished the event stream either way: let its last events reach the log and
        // the audit trail before the service ends.
        await events.value
        try outcome.get()
    }

    /// One line per association event; UIDs and AE titles only, never patient attributes.
    static func log(_ event: StorageServerEvent, _ logger: Logger) {
        switch event {
        case .associationAccepted(let a):
            logger.info("association accepted", metadata: metadata(a))
        case .associationRejected(let a, let reason):
            logger.warning("association rejected", metadata: metadata(a).merging(["reason": "\(reason)"]) { $1 })
        case .connectionDropped(let peer, let reason):
            // Health checks do this every few seconds: visible when asked for, never a warning.
            logger.debug("connection without association", metadata: ["peer": "\(peer)", "reason": "\(reason)"])
        case .tlsHandshakeFailed(let a, let reason):
            logger.warning("TLS handshake failed", metadata: ["peer": "\(a.peer)", "reason": "\(reason)"])
        case .associationReleased(let a):
            logger.info("association released", metadata: metadata(a))
        case .associationAborted(let a, let reason):
            logger.warning("association aborted", metadata: metadata(a).merging(["reason": "\(reason)"]) { $1 })
        case .echo(let a):
            logger.debug("C-ECHO", metadata: metadata(a))
        case .instanceStored(let instance):
            logger.debug(
                "instance stored",
                metadata: metadata(instance.association).merging([
                    "sop_instance_uid": "\(instance.sopInstanceUID)", "duplicate": "\(instance.isDuplicate)"
                ]) { $1 })
        case .instanceRefused(let a, let status, let error):
            logger.warning(
                "instance refused", metadata: metadata(a).merging(["status": "\(status)", "error": "\(error)"]) { $1 })
        case .error(let a, let error):
            logger.error("association error", metadata: metadata(a).merging(["error": "\(error)"]) { $1 })
        }
    }

    static func metadata(_ a: AssociationInfo) -> Logger.Metadata {
        [
            "association": "\(a.id)", "calling_ae": "\(a.callingAETitle)", "called_ae": "\(a.calledAETitle)",
            "peer": "\(a.peer)"
        ]
    }
}
