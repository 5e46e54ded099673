import Foundation

/// Cubic B-spline interpolation (Unser, "Splines: a perfect fit for signal and image
/// processing", IEEE SPM 1999): samples are turned into spline coefficients by a recursive
/// prefilter along each axis (pole √3 − 2, mirror boundaries), then evaluated with the cubic
/// B-spline weights over a 4 × 4 × 4 neighbourhood. This is what scipy's `map_coordinates(order=3,
/// mode="mirror")` does, and what nnU-Net resamples images with.
enum BSpline {
    static let pole = 3.0.squareRoot() - 2

    /// Spline coefficients of the volume's voxels (same layout).
    static func coefficients(of volume: Volume, threads: Int?) -> [Float] {
        var values = volume.voxels.map(Double.init)
        let size = volume.geometry.size
        let strides = [1, size.x, size.x * size.y]
        for axis in 0..<3 where size[axis] > 1 {
            let n = size[axis], stride = strides[axis]
            // Every line along `axis` starts at an index whose coordinate on that axis is 0.
            let starts = (0..<volume.geometry.voxelCount).filter { ($0 / stride) % n == 0 }
            values.withUnsafeMutableBufferPointer { buffer in
                nonisolated(unsafe) let data = buffer
                parallelFor(starts.count, threads: threads) { line in
                    var samples = [Double](repeating: 0, count: n)
                    let start = starts[line]
                    for index in 0..<n { samples[index] = data[start + index * stride] }
                    prefilter(&samples)
                    for index in 0..<n { data[start + index * stride] = samples[index] }
                }
            }
        }
        return values.map(Float.init)
    }

    /// In-place conversion of samples to coefficients along one line (mirror boundaries).
    static func prefilter(_ c: inout [Double]) {
        let n = c.count, z = pole
        let gain = (1 - z) * (1 - 1 / z)
        for index in 0..<n { c[index] *= gain }
        c[0] = initialCausal(c, z)
        for index in 1..<n { c[index] += z * c[index - 1] }
        // Anti-causal initialisation for mirror boundaries.
        c[n - 1] = (z / (z * z - 1)) * (z * c[n - 2] + c[n - 1])
        for index in stride(from: n - 2, through: 0, by: -1) { c[index] = z * (c[index + 1] - c[index]) }
    }

    /// The first causal coefficient for mirror boundaries (Thévenaz, Blu and Unser, "Interpolation
    /// revisited", IEEE TMI 2000): truncated where z^k is negligible, exact for short lines.
    static func initialCausal(_ c: [Double], _ z: Double) -> Double {
        let n = c.count
        let horizon = Int((log(1e-12) / log(abs(z))).rounded(.up))
        if horizon < n {
            var sum = c[0], power = z
            for index in 1..<horizon {
                sum += power * c[index]
                power *= z
            }
            return sum
        }
        var z1 = z, zn = pow(z, Double(n - 1))
        let iz = 1 / z
        var sum = c[0] + zn * c[n - 1]
        zn *= zn * iz
        for index in stride(from: 1, to: n - 1, by: 1) {
            sum += (z1 + zn) * c[index]
            z1 *= z
            zn *= iz
        }
        return sum / (1 - z1 * z1)
    }

    /// Cubic B-spline weights for the four neighbours around fractional offset `t` ∈ [0, 1).
    @inline(__always)
    static func weights(_ t: Double) -> (Double, Double, Double, Double) {
        let u = 1 - t
        return (u * u * u / 6, (3 * t * t * t - 6 * t * t + 4) / 6, (3 * u * u * u - 6 * u * u + 4) / 6, t * t * t / 6)
    }

    /// Mirror an index into 0..<n (whole-sample symmetric, as the prefilter assumes).
    @inline(__always)
    static func mirror(_ i: Int, _ n: Int) -> Int {
        if n == 1 { return 0 }
        let period = 2 * (n - 1)
        var m = i % period
        if m < 0 { m += period }
        return m < n ? m : period - m
    }

    @inline(__always)
    static func sample(_ data: UnsafeBufferPointer<Float>, _ g: Geometry, _ c: SIMD3<Double>) -> Float? {
        let slack = Sampler.slack
        guard c.x >= -slack, c.y >= -slack, c.z >= -slack, c.x <= Double(g.size.x - 1) + slack,
            c.y <= Double(g.size.y - 1) + slack, c.z <= Double(g.size.z - 1) + slack
        else { return nil }
        let base = SIMD3(c.x.rounded(.down), c.y.rounded(.down), c.z.rounded(.down))
        let f = c - base
        let wx = weights(f.x), wy = weights(f.y), wz = weights(f.z)
        let ax = [wx.0, wx.1, wx.2, wx.3], ay = [wy.0, wy.1, wy.2, wy.3], az = [wz.0, wz.1, wz.2, wz.3]
        var total = 0.0
        for dz in 0..<4 {
            let k = mirror(Int(base.z) + dz - 1, g.size.z)
            for dy in 0..<4 {
                let j = mirror(Int(base.y) + dy - 1, g.size.y)
                var line = 0.0
                for dx in 0..<4 {
                    line += ax[dx] * Double(data[g.offset(mirror(Int(base.x) + dx - 1, g.size.x), j, k)])
                }
                total += az[dz] * ay[dy] * line
            }
        }
        return Float(total)
    }
}
