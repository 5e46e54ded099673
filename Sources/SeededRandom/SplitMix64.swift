import Foundation

/// A small deterministic generator (SplitMix64, Steele et al. 2014): generated sample series,
/// synthetic weights and test data are identical on every machine and run. Not for anything
/// that needs unpredictability.
public struct SplitMix64: RandomNumberGenerator, Sendable {
    private var state: UInt64
    public init(seed: UInt64) { state = seed }

    public mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }

    /// A uniform float in [0, 1) from the top 24 bits.
    public mutating func nextFloat() -> Float { Float(next() >> 40) / Float(1 << 24) }

    /// A uniform double in [0, 1) from the top 53 bits.
    public mutating func nextUnit() -> Double { Double(next() >> 11) * 0x1p-53 }

    /// A uniform double in `range`.
    public mutating func uniform(_ range: ClosedRange<Double>) -> Double {
        range.lowerBound + nextUnit() * (range.upperBound - range.lowerBound)
    }

    /// A standard normal draw (Box–Muller; one of the pair is discarded so every draw costs the
    /// same two words and sequences stay aligned whatever the caller does with them).
    public mutating func nextGaussian() -> Double {
        let u1 = max(nextUnit(), 0x1p-53), u2 = nextUnit()
        return (-2 * log(u1)).squareRoot() * cos(2 * Double.pi * u2)
    }
}
