import Foundation

/// When to try a failed send again (docs/node-behaviour.md, Sending): first retry after 30 s,
/// doubling, capped at 10 min, each delay spread by ±jitter so that many entries do not retry in
/// lock-step; parked once the first attempt is older than the give-up time.
public struct RetryPolicy: Sendable {
    public var policy: NodeConfiguration.SendPolicy

    public init(_ policy: NodeConfiguration.SendPolicy) { self.policy = policy }

    /// The delay before attempt `attempts + 1`, given `attempts` failures so far (≥ 1).
    /// `unit` is a random number in 0..<1 (injected so tests are deterministic).
    public func delay(afterFailures attempts: Int, unit: Double) -> Double {
        let exponent = Double(max(0, attempts - 1))
        let base = min(policy.firstRetry * pow(2, min(exponent, 60)), policy.maximumRetry)
        return base * (1 + policy.jitter * (2 * unit - 1))
    }

    /// Whether an entry created at `createdAt` has been failing long enough to park.
    public func shouldPark(createdAt: Date, now: Date) -> Bool {
        now.timeIntervalSince(createdAt) >= policy.giveUpAfter
    }
}
