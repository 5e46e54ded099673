import Foundation
import SeededRandom
import Testing

@testable import Volume

@Suite struct VolumeResamplingTests {
    /// An oblique grid with anisotropic spacing, so any axis or sign error shows.
    static let oblique: Geometry = {
        let a = 0.3, b = -0.2
        let row = SIMD3(cos(a), sin(a), 0.0)
        let column = SIMD3(-sin(a) * cos(b), cos(a) * cos(b), sin(b))
        let normal = SIMD3(
            row.y * column.z - row.z * column.y, row.z * column.x - row.x * column.z,
            row.x * column.y - row.y * column.x)
        return Geometry(
            size: SIMD3(21, 17, 9), spacing: SIMD3(2, 3, 4), origin: SIMD3(-20.5, 13.25, -7),
            direction: Matrix3(columns: row, column, normal))
    }()

    static func labelMap(on g: Geometry) -> Volume {
        var volume = Volume(geometry: g)
        var rng = SplitMix64(seed: 7)
        for index in volume.voxels.indices { volume.voxels[index] = Float(rng.next() % 5) }
        return volume
    }

    @Test func nearestRoundTripThroughOneMillimetreReproducesALabelMap() {
        let labels = Self.labelMap(on: Self.oblique)
        let iso = labels.geometry.withSpacing(SIMD3(1, 1, 1))
        #expect(iso.size == SIMD3(41, 49, 33))
        let up = labels.resampled(to: iso, interpolation: .nearest)
        let back = up.resampled(to: labels.geometry, interpolation: .nearest)
        #expect(back.voxels == labels.voxels)
    }

    @Test func trilinearIsExactForALinearRamp() {
        let source = Self.oblique
        let ramp = { (p: SIMD3<Double>) in 0.5 * p.x - 0.25 * p.y + 0.125 * p.z + 3 }
        var volume = Volume(geometry: source)
        for k in 0..<source.size.z {
            for j in 0..<source.size.y {
                for i in 0..<source.size.x {
                    volume[i, j, k] = Float(ramp(source.patientPoint(ofIndex: SIMD3(Double(i), Double(j), Double(k)))))
                }
            }
        }
        // An axis-aligned target grid inside the oblique one, with its own spacing.
        let centre = source.patientPoint(ofIndex: SIMD3(10, 8, 4))
        let target = Geometry(
            size: SIMD3(12, 10, 8), spacing: SIMD3(1.3, 0.7, 1.1),
            origin: centre - SIMD3(7.8, 3.5, 4.4), direction: .identity)
        let resampled = volume.resampled(to: target, interpolation: .linear, fill: .nan)
        var checked = 0, largest = 0.0
        for k in 0..<target.size.z {
            for j in 0..<target.size.y {
                for i in 0..<target.size.x {
                    let value = resampled[i, j, k]
                    guard !value.isNaN else { continue }
                    let want = ramp(target.patientPoint(ofIndex: SIMD3(Double(i), Double(j), Double(k))))
                    largest = max(largest, abs(Double(value) - want))
                    checked += 1
                }
            }
        }
        #expect(checked > target.voxelCount / 2)
        #expect(largest <= 1e-4, "largest error \(largest)")
    }

    @Test func bsplineInterpolatesTheSamplesAndSmoothFields() {
        let source = Self.oblique
        var volume = Volume(geometry: source)
        let field = { (i: Double, j: Double, k: Double) in sin(i * 0.3) * cos(j * 0.2) * cos(k * 0.25) }
        for k in 0..<source.size.z {
            for j in 0..<source.size.y {
                for i in 0..<source.size.x { volume[i, j, k] = Float(field(Double(i), Double(j), Double(k))) }
            }
        }
        // Onto its own grid: the prefiltered spline passes through every sample.
        let same = volume.resampled(to: source, interpolation: .bspline3)
        let worst = zip(same.voxels, volume.voxels).map { abs($0 - $1) }.max()!
        #expect(worst < 1e-4)
        // Half-voxel offsets away from the mirrored borders: much closer to the smooth field than
        // trilinear interpolation (error O(h⁴) against O(h²)).
        var shifted = source
        shifted.origin = source.patientPoint(ofIndex: SIMD3(0.5, 0.5, 0.5))
        shifted.size = source.size &- 1
        let spline = volume.resampled(to: shifted, interpolation: .bspline3)
        let linear = volume.resampled(to: shifted, interpolation: .linear)
        var splineError = 0.0, linearError = 0.0
        for k in 3..<(shifted.size.z - 3) {
            for j in 3..<(shifted.size.y - 3) {
                for i in 3..<(shifted.size.x - 3) {
                    let want = field(Double(i) + 0.5, Double(j) + 0.5, Double(k) + 0.5)
                    splineError = max(splineError, abs(Double(spline[i, j, k]) - want))
                    linearError = max(linearError, abs(Double(linear[i, j, k]) - want))
                }
            }
        }
        #expect(splineError < 1e-3, "largest error \(splineError)")
        #expect(splineError < linearError / 5, "spline \(splineError), linear \(linearError)")
    }

    @Test func reorientationToCanonicalMovesNoVoxel() {
        // Sagittal-like: i along +y (posterior), j along −z (inferior), k along −x (right).
        let g = Geometry(
            size: SIMD3(5, 4, 3), spacing: SIMD3(0.9, 0.7, 3), origin: SIMD3(10, -20, 30),
            direction: Matrix3(columns: SIMD3(0, 1, 0), SIMD3(0, 0, -1), SIMD3(-1, 0, 0)))
        let labels = Self.labelMap(on: g)
        let canonical = labels.reoriented()
        #expect(canonical.geometry.direction == .identity)
        #expect(canonical.geometry.size == SIMD3(3, 5, 4))
        #expect(canonical.geometry.spacing == SIMD3(3, 0.9, 0.7))
        // Every voxel keeps its value at its patient position.
        for k in 0..<g.size.z {
            for j in 0..<g.size.y {
                for i in 0..<g.size.x {
                    let p = g.patientPoint(ofIndex: SIMD3(Double(i), Double(j), Double(k)))
                    let c = canonical.geometry.continuousIndex(ofPatientPoint: p)
                    let n = SIMD3(Int(c.x.rounded()), Int(c.y.rounded()), Int(c.z.rounded()))
                    #expect(canonical[n.x, n.y, n.z] == labels[i, j, k])
                }
            }
        }
    }

    @Test func pointsOutsideTheSourceGetTheFillValue() {
        let g = Geometry(size: SIMD3(4, 4, 4), spacing: SIMD3(1, 1, 1), origin: .zero, direction: .identity)
        let volume = Volume(geometry: g, filledWith: 5)
        var target = g
        target.origin = SIMD3(2, 0, 0)
        let moved = volume.resampled(to: target, interpolation: .linear, fill: -1)
        #expect(moved[0, 0, 0] == 5 && moved[1, 0, 0] == 5 && moved[2, 0, 0] == -1)
    }
}
