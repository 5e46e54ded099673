import Foundation
import Logging
import ServiceLifecycle

/// Runs `body` every `interval` until graceful shutdown (the tracker's, the sender's and the job
/// workers' loops). A failing round is logged and retried next round: a transient database or
/// network error must not stop an unattended node.
public struct PeriodicService: Service {
    let name: String
    let interval: Duration
    let logger: Logger
    /// One round; it may name when the next is due, if sooner than `interval`.
    let body: @Sendable () async throws -> Date?
    /// Starts the next round early when signalled (idle job workers when jobs were queued, the
    /// sender when results were).
    let wake: WakeSignal?

    public init(
        name: String, interval: Duration, logger: Logger, wake: WakeSignal? = nil,
        body: @escaping @Sendable () async throws -> Void
    ) {
        self.name = name
        self.interval = interval
        self.logger = logger
        self.wake = wake
        self.body = {
            try await body()
            return nil
        }
    }

    private init(
        name: String, interval: Duration, logger: Logger, wake: WakeSignal?,
        round: @escaping @Sendable () async throws -> Date?
    ) {
        self.name = name
        self.interval = interval
        self.logger = logger
        self.wake = wake
        body = round
    }

    /// A service whose round returns when the next round is due (the tracker: the next quiet
    /// deadline), so that it need not poll finely; `interval` bounds the wait.
    public static func dueAt(
        name: String, interval: Duration, logger: Logger, wake: WakeSignal? = nil,
        round: @escaping @Sendable () async throws -> Date?
    ) -> PeriodicService {
        PeriodicService(name: name, interval: interval, logger: logger, wake: wake, round: round)
    }

    public func run() async throws {
        while !Task.isShuttingDownGracefully && !Task.isCancelled {
            let signalled = wake?.count
            var due: Date?
            do {
                due = try await body()
            } catch {
                logger.error("\(name) round failed", metadata: ["error": "\(error)"])
            }
            let wait = due.map { Self.wait(until: $0, now: Date(), atMost: interval) } ?? interval
            if let wake {
                // Work signalled during the round (results of a job that ended meanwhile) is not
                // left for the next poll.
                try? await cancelWhenGracefulShutdown { await wake.wait(upTo: wait, unlessSignalledSince: signalled) }
            } else {
                try? await cancelWhenGracefulShutdown { try await Task.sleep(for: wait) }
            }
        }
    }

    /// How long to wait for a round due at `due`: a millisecond past it (the store keeps times
    /// to the millisecond), never longer than `atMost`, never negative.
    static func wait(until due: Date, now: Date, atMost: Duration) -> Duration {
        let milliseconds = (due.timeIntervalSince(now) * 1000).rounded(.up) + 1
        return min(atMost, .milliseconds(Int64(max(0, min(milliseconds, 1e9)))))
    }
}
