import Foundation
import Logging

/// Delivers outbox entries: per destination, the due entries in one batch;
/// each file's own C-STORE status is recorded, only failures are retried, with the backoff of
/// `RetryPolicy`, and entries are parked after the give-up time.
public struct Sender: Sendable {
    let store: any NodeStateStore
    let configuration: NodeConfiguration
    let transport: any ResultTransport
    let logger: Logger
    let metrics: NodeMetrics?
    let audit: AuditTrail?

    public init(
        store: any NodeStateStore, configuration: NodeConfiguration, transport: any ResultTransport, logger: Logger,
        metrics: NodeMetrics? = nil, audit: AuditTrail? = nil
    ) {
        self.store = store
        self.configuration = configuration
        self.transport = transport
        self.logger = logger
        self.metrics = metrics
        self.audit = audit
    }

    /// Sends what is due at `now` to the destinations this node sends for (with several nodes,
    /// each destination's sender runs on one of them); returns the number of entries attempted.
    @discardableResult
    public func sendDue(now: Date) async throws -> Int {
        let due = try await store.dueOutboxEntries(now: now, limit: 500)
        guard !due.isEmpty else { return 0 }
        let policy = RetryPolicy(configuration.sending)
        var attempted = 0
        for (name, entries) in Dictionary(grouping: due, by: \.destination).sorted(by: { $0.key < $1.key }) {
            guard await store.holdsSender(for: name) else { continue }
            attempted += entries.count
            guard let destination = configuration.destination(named: name) else {
                // The destination was removed from the configuration: keep retrying would be
                // pointless, dropping would lose a result; park it for a person to decide.
                for entry in entries {
                    try await store.recordAttempt(
                        entryID: entry.id!, outcome: .undeliverable(reason: "destination '\(name)' is not configured"),
                        policy: policy, now: now, seconds: nil, unit: 0)
                }
                logger.error(
                    "outbox entries parked: destination not configured",
                    metadata: [
                        "destination": "\(name)",
                        "count": "\(entries.count)"
                    ])
                continue
            }
            let started = ContinuousClock.now
            let outcomes = await transport.send(entries.map(\.path), to: destination)
            let elapsed = ContinuousClock.now - started
            let seconds = Double(elapsed.components.seconds) + Double(elapsed.components.attoseconds) / 1e18
            await audit?.instancesSent(to: destination, files: entries.map(\.path), stored: outcomes.map(\.isStored))
            for (entry, outcome) in zip(entries, outcomes) {
                // A SOP class the destination does not take is parked at once, with the reason;
                // the other objects of the job are delivered as usual.
                let result: NodeStore.SendOutcome =
                    outcome.isStored
                    ? .sent(status: outcome.status ?? 0)
                    : outcome.notAccepted
                        ? .undeliverable(reason: "SOP class not accepted by \(name): \(outcome.error ?? "no context")")
                        : .failed(status: outcome.status, error: outcome.error ?? "not stored")
                let updated = try await store.recordAttempt(
                    entryID: entry.id!, outcome: result, policy: policy, now: now, seconds: seconds,
                    unit: Double.random(in: 0..<1))
                var metadata: Logger.Metadata = [
                    "correlation_id": "\(entry.correlationID)", "destination": "\(name)",
                    "sop_instance_uid": "\(entry.sopInstanceUID)", "attempt": "\(updated?.attempts ?? 0)"
                ]
                if let status = outcome.status { metadata["status"] = "\(NodeStore.hex(status))" }
                (outcome.isStored ? metrics?.sendsSucceeded : metrics?.sendsFailed)?.increment()
                if outcome.isStored {
                    logger.info("result sent", metadata: metadata)
                } else if updated?.state == .parked {
                    metadata["error"] = "\(outcome.error ?? "")"
                    logger.error(
                        outcome.notAccepted
                            ? "result parked: SOP class not accepted" : "result parked after give-up time",
                        metadata: metadata)
                } else {
                    metadata["error"] = "\(outcome.error ?? "")"
                    metadata["next_attempt"] =
                        "\(updated.map { ISO8601DateFormatter().string(from: $0.nextAttemptAt) } ?? "")"
                    logger.warning("send failed, will retry", metadata: metadata)
                }
            }
        }
        return attempted
    }
}
