import Foundation

/// The pure rules of series completion (docs/node-behaviour.md, Series completion), kept apart
/// from storage so they can be tested with any clock: a series is stable at the earliest of its
/// quiet deadline, its hard cap, or the moment the announced instance count is reached.
public enum SeriesLifecycle {
    public static func deadlines(route: Route?, firstReceivedAt: Date, lastReceivedAt: Date) -> (quiet: Date, hard: Date) {
        // Unrouted series still get deadlines so they leave `receiving` and are reported.
        let quiet = route?.quietTime ?? 45
        let cap = route?.hardCap ?? 3600
        return (lastReceivedAt.addingTimeInterval(quiet), firstReceivedAt.addingTimeInterval(cap))
    }

    /// Whether a receiving series is complete at `now`.
    public static func isStable(_ series: SeriesRecord, route: Route?, now: Date) -> Bool {
        guard series.state == .receiving else { return false }
        if let expected = series.expectedCount, route?.closeOnExpectedCount ?? false, series.instanceCount >= expected {
            return true
        }
        return now >= series.quietDeadline || now >= series.hardDeadline
    }

    /// The earliest moment anything in `series` can become stable (for the tracker's sleep).
    public static func nextDeadline(_ series: [SeriesRecord]) -> Date? {
        series.filter { $0.state == .receiving }.map { min($0.quietDeadline, $0.hardDeadline) }.min()
    }
}
