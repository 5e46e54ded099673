import Foundation
import SeededRandom
import Testing

@testable import Volume

/// The separable paths (`SeparableResampling`, the nearest gather, `ClassProbabilities.labels`)
/// against the point-by-point reference they replace.
@Suite struct SeparableResamplingTests {
    static let source = VolumeResamplingTests.oblique

    /// Smooth values plus noise, so interpolation errors in either path would show.
    static func image(on g: Geometry, seed: UInt64 = 3) -> Volume {
        var volume = Volume(geometry: g)
        var rng = SplitMix64(seed: seed)
        for k in 0..<g.size.z {
            for j in 0..<g.size.y {
                for i in 0..<g.size.x {
                    let smooth = 400 * sin(Double(i) * 0.4) * cos(Double(j) * 0.3) + 30 * Double(k)
                    volume[i, j, k] = Float(smooth + Double(rng.next() % 200) - 100)
                }
            }
        }
        return volume
    }

    /// Parallel target grids: coarser and finer spacing, a shifted origin that leaves part of the
    /// target outside the source, and the recipe's edge-to-edge grid.
    static var parallelTargets: [Geometry] {
        let g = source
        var shifted = g.withSpacing(SIMD3(1.3, 2.2, 1.7))
        shifted.origin = g.patientPoint(ofIndex: SIMD3(-2.5, 1.25, -1.5))
        var coarse = g
        coarse.size = SIMD3(9, 6, 4)
        coarse.spacing = g.spacing * SIMD3(21.0 / 9, 17.0 / 6, 9.0 / 4)
        coarse.origin = g.patientPoint(ofIndex: (SIMD3(21.0 / 9, 17.0 / 6, 9.0 / 4) - 1) / 2)
        return [g.withSpacing(SIMD3(0.7, 1, 3)), shifted, coarse]
    }

    @Test(arguments: [Interpolation.linear, .bspline3], [false, true])
    func separablePathGivesTheReferenceValues(interpolation: Interpolation, extendingEdges: Bool) {
        let image = Self.image(on: Self.source)
        let scale = image.voxels.map { abs($0) }.max()!
        for target in Self.parallelTargets {
            #expect(AxisMapping(from: image.geometry, to: target)?.keepsAxisOrder == true)
            let fast = image.resampled(
                to: target, interpolation: interpolation, fill: .nan, extendingEdges: extendingEdges)
            let reference = image.resampledPointwise(
                to: target, interpolation: interpolation, fill: .nan, extendingEdges: extendingEdges)
            var largest: Float = 0, filled = 0
            for (a, b) in zip(fast.voxels, reference.voxels) {
                #expect(a.isNaN == b.isNaN)
                if a.isNaN { filled += 1 } else { largest = max(largest, abs(a - b)) }
            }
            #expect(largest <= 1e-5 * scale, "\(target.size): largest difference \(largest)")
            if target.origin != Self.source.origin || extendingEdges { continue }
            #expect(filled == 0)
        }
    }

    @Test func nearestGatherThroughPermutedAndFlippedAxesIsExact() {
        // The oblique grid with its axes permuted and two of them flipped, as a sagittal or
        // reversed series is stored.
        var source = Self.source
        let d = source.direction
        source.direction = Matrix3(columns: -d.c2, d.c0, -d.c1)
        let labels = VolumeResamplingTests.labelMap(on: source)
        let canonical = source.canonical
        #expect(AxisMapping(from: source, to: canonical)?.keepsAxisOrder == false)
        // Spacings that put no target centre exactly half-way between source centres, where
        // either neighbour is right and rounding decides.
        for target in [canonical, canonical.withSpacing(SIMD3(1.37, 0.71, 2.93))] {
            for extendingEdges in [false, true] {
                let fast = labels.resampled(
                    to: target, interpolation: .nearest, fill: -1, extendingEdges: extendingEdges)
                let reference = labels.resampledPointwise(
                    to: target, interpolation: .nearest, fill: -1, extendingEdges: extendingEdges)
                let differing = zip(fast.voxels, reference.voxels).filter { $0 != $1 }.count
                #expect(differing == 0, "\(target.size), extending edges \(extendingEdges)")
            }
        }
        // Back from the canonical grid: every voxel where it was.
        let there = labels.resampled(to: canonical, interpolation: .nearest)
        #expect(there.resampled(to: source, interpolation: .nearest).voxels.elementsEqual(labels.voxels))
    }

    @Test func obliqueTargetsFallBackToPointByPoint() {
        let image = Self.image(on: Self.source)
        let axial = Geometry(
            size: SIMD3(10, 10, 6), spacing: SIMD3(2, 2, 2), origin: Self.source.origin, direction: .identity)
        #expect(AxisMapping(from: Self.source, to: axial) == nil)
        let fast = image.resampled(to: axial, interpolation: .linear, fill: -7)
        let reference = image.resampledPointwise(to: axial, interpolation: .linear, fill: -7)
        #expect(fast.voxels.elementsEqual(reference.voxels))
    }

    /// Softmax of smooth random scores with `classes` channels on `grid`.
    static func probabilities(on grid: Geometry, classes: Int, seed: UInt64) -> [Float] {
        var rng = SplitMix64(seed: seed)
        let n = grid.voxelCount
        var scores = [Double](repeating: 0, count: classes * n)
        // A few random bumps per class on a background that wins most voxels.
        for c in 0..<classes {
            let centres = (0..<3).map { _ in
                SIMD3(
                    Double(rng.next() % UInt64(grid.size.x)), Double(rng.next() % UInt64(grid.size.y)),
                    Double(rng.next() % UInt64(grid.size.z)))
            }
            for k in 0..<grid.size.z {
                for j in 0..<grid.size.y {
                    for i in 0..<grid.size.x {
                        let p = SIMD3(Double(i), Double(j), Double(k))
                        var s = c == 0 ? 1.5 : 0
                        if c > 0 {
                            for centre in centres {
                                let d = p - centre
                                s += 3 * exp(-(d * d).sum() / 6)
                            }
                        }
                        scores[c * n + grid.offset(i, j, k)] = s
                    }
                }
            }
        }
        var result = [Float](repeating: 0, count: classes * n)
        for o in 0..<n {
            let total = (0..<classes).map { exp(scores[$0 * n + o]) }.reduce(0, +)
            for c in 0..<classes { result[c * n + o] = Float(exp(scores[c * n + o]) / total) }
        }
        return result
    }

    @Test(arguments: [false, true])
    func labelsFromClassBoxesEqualTheArgmaxOfEveryClass(outside: Bool) {
        // Coarse probabilities back onto a finer grid; with `outside`, part of the target lies
        // beyond the coarse field of view (a crop) and must come out as background.
        let grid = Self.parallelTargets[2].withSpacing(SIMD3(4.5, 5.5, 7))
        var target = Self.source
        if outside { target.origin = target.patientPoint(ofIndex: SIMD3(-4, 3, -2)) }
        let classes = 5
        let values = Self.probabilities(on: grid, classes: classes, seed: 11)
        values.withUnsafeBufferPointer { buffer in
            let probabilities = ClassProbabilities(grid: grid, classes: classes, values: buffer)
            let fast = probabilities.labels(on: target)
            let reference = probabilities.pointwiseLabels(on: target)
            #expect(Set(reference).count > 2, "the fixture must give several classes")
            #expect(fast.elementsEqual(reference))
            if outside { #expect(fast[0] == 0) }
        }
    }

    @Test func aClassThatNeverNearsTheBackgroundIsNeverLabelled() {
        let grid = Geometry(size: SIMD3(6, 5, 4), spacing: SIMD3(3, 3, 3), origin: .zero, direction: .identity)
        let target = grid.withSpacing(SIMD3(1, 1, 1))
        let n = grid.voxelCount
        // Background 0.6 everywhere, class 1 at 0.3, class 2 at 0.1 except one voxel where it wins.
        var values =
            [Float](repeating: 0.6, count: n) + [Float](repeating: 0.3, count: n)
            + [Float](repeating: 0.1, count: n)
        values[n + grid.offset(2, 2, 2)] = 0.05
        values[2 * n + grid.offset(2, 2, 2)] = 0.35
        values[grid.offset(2, 2, 2)] = 0.6
        values[2 * n + grid.offset(3, 2, 2)] = 0.9
        values[grid.offset(3, 2, 2)] = 0.06
        values[n + grid.offset(3, 2, 2)] = 0.04
        values.withUnsafeBufferPointer { buffer in
            let probabilities = ClassProbabilities(grid: grid, classes: 3, values: buffer)
            #expect(probabilities.sourceBox(of: 1) == nil)
            #expect(probabilities.sourceBox(of: 2) == .init(lower: SIMD3(3, 2, 2), upper: SIMD3(4, 3, 3)))
            let fast = probabilities.labels(on: target)
            #expect(fast.elementsEqual(probabilities.pointwiseLabels(on: target)))
            #expect(fast.contains(2) && !fast.contains(1))
        }
    }
}
