import Logging
import ServiceLifecycle

/// Runs `body` every `interval` until graceful shutdown (the tracker's and the sender's loops).
/// A failing round is logged and retried next round: a transient database or network error must
/// not stop an unattended node.
public struct PeriodicService: Service {
    let name: String
    let interval: Duration
    let logger: Logger
    let body: @Sendable () async throws -> Void
    /// Starts the next round early when signalled (idle job workers when jobs were queued).
    let wake: WakeSignal?

    public init(
        name: String, interval: Duration, logger: Logger, wake: WakeSignal? = nil,
        body: @escaping @Sendable () async throws -> Void
    ) {
        self.name = name
        self.interval = interval
        self.logger = logger
        self.wake = wake
        self.body = body
    }

    public func run() async throws {
        while !Task.isShuttingDownGracefully && !Task.isCancelled {
            do {
                try await body()
            } catch {
                logger.error("\(name) round failed", metadata: ["error": "\(error)"])
            }
            if let wake {
                try? await cancelWhenGracefulShutdown { await wake.wait(upTo: interval) }
            } else {
                try? await cancelWhenGracefulShutdown { try await Task.sleep(for: interval) }
            }
        }
    }
}
