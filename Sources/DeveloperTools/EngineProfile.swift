import NNMamba
import Synchronization

/// Wall time per engine region, summed over every call while installed
/// (`Instrumentation.install(profile)`), for `mambanode bench engine`.
public final class EngineProfile: EngineObserver {
    private let totals = Mutex<[Int]>(Array(repeating: 0, count: EngineRegion.allCases.count))

    public init() {}

    public func record(_ region: EngineRegion, nanoseconds: Int) {
        totals.withLock { $0[region.rawValue] += nanoseconds }
    }

    /// Seconds accumulated in `region`.
    public func seconds(_ region: EngineRegion) -> Double { Double(totals.withLock { $0[region.rawValue] }) / 1e9 }

    /// What a region covers, for the benchmark's table.
    public static func name(_ region: EngineRegion) -> String {
        switch region {
        case .convolution: "3-D convolutions (im2col + sgemm + epilogue)"
        case .mambaProjections: "Mamba projections, causal conv, softplus"
        case .selectiveScan: "selective scan (incl. gate)"
        }
    }
}
