import Foundation
import SampleGenerator
import SeededRandom
import Testing
import Volume

/// The varied abdomen phantom is training data with exact truth: it must be reproducible per
/// seed, vary between seeds within the stated ranges, and its landmarks and lesion must sit
/// where the truth file says.
@Suite struct AbdomenPhantomTests {
    static let seeds: [UInt64] = Array(1...40)

    @Test func sameSeedSamePhantomOtherSeedOther() {
        let a = AbdomenPhantom(seed: 11, lesion: true), b = AbdomenPhantom(seed: 11, lesion: true)
        #expect(a.landmarks.map(\.point) == b.landmarks.map(\.point))
        #expect(a.phantom.ellipsoids.map(\.center) == b.phantom.ellipsoids.map(\.center))
        #expect(a.phantom.ellipsoids.map(\.value) == b.phantom.ellipsoids.map(\.value))
        #expect(a.lesion?.center == b.lesion?.center && a.lesion?.radius == b.lesion?.radius)
        var g = SeriesGenerator()
        (g.rows, g.columns, g.slices) = (32, 32, 4)
        g.phantom = a.phantom
        let first = g.storedPixels(slice: 2)
        g.phantom = b.phantom
        #expect(g.storedPixels(slice: 2) == first)

        let c = AbdomenPhantom(seed: 12, lesion: true)
        #expect(c.landmarks.map(\.point) != a.landmarks.map(\.point))
        #expect(c.scale != a.scale && c.noiseSD != a.noiseSD)
        g.phantom = c.phantom
        #expect(g.storedPixels(slice: 2) != first)
    }

    @Test func lesionDoesNotMoveTheAnatomy() {
        let with = AbdomenPhantom(seed: 5, lesion: true), without = AbdomenPhantom(seed: 5, lesion: false)
        #expect(with.landmarks.map(\.point) == without.landmarks.map(\.point))
        #expect(with.phantom.ellipsoids.count == without.phantom.ellipsoids.count + 1)
        #expect(without.lesion == nil)
    }

    @Test func posesHUAndNoiseStayInTheirRanges() {
        for seed in Self.seeds {
            let a = AbdomenPhantom(seed: seed, lesion: false)
            #expect((0.88...1.12).contains(a.scale))
            #expect(a.translation.min() >= -15 && a.translation.max() <= 15)
            #expect(abs(a.rotationDegrees.x) <= 4 && abs(a.rotationDegrees.y) <= 4 && abs(a.rotationDegrees.z) <= 8)
            #expect((8...20).contains(a.noiseSD))
            #expect(a.phantom.noiseModel == .gaussian && a.phantom.background == -1000)
            let hu = { (s: AbdomenPhantom.Structure) in a.organs[s]!.value }
            #expect((a.contrastEnhanced ? 100.0...120 : 55...65).contains(hu(.liver)), "seed \(seed)")
            #expect((a.contrastEnhanced ? 110.0...130 : 40...50).contains(hu(.spleen)), "seed \(seed)")
            let kidneys = a.contrastEnhanced ? 150.0...180 : 30...40
            #expect(kidneys.contains(hu(.rightKidney)) && kidneys.contains(hu(.leftKidney)), "seed \(seed)")
            #expect((700...900).contains(hu(.vertebra)), "seed \(seed)")
            // Liver on the patient's right (−x in LPS), spleen on the left.
            #expect(a.organs[.liver]!.center.x < a.organs[.vertebra]!.center.x)
            #expect(a.organs[.spleen]!.center.x > a.organs[.vertebra]!.center.x)
            #expect(a.landmark("right kidney centre")!.x < a.landmark("left kidney centre")!.x)
        }
        // Both phases occur.
        #expect(Set(Self.seeds.map { AbdomenPhantom(seed: $0, lesion: false).contrastEnhanced }) == [true, false])
    }

    /// Every landmark lies on or in its structure (as the noiseless phantom labels it), and the
    /// poles are extreme: just beyond them along ±z the structure has ended.
    @Test func landmarksSitOnTheirStructures() {
        for seed in Self.seeds {
            let a = AbdomenPhantom(seed: seed, lesion: true)
            let p = a.phantom
            func label(_ point: SIMD3<Double>) -> Int { p.sample(point).label }
            for (name, structure) in [
                ("liver dome", AbdomenPhantom.Structure.liver), ("liver tip", .liver),
                ("spleen superior pole", .spleen)
            ] {
                let point = a.landmark(name)!
                let centre = a.organs[structure]!.center
                let inward = point + (centre - point) / ((centre - point) * (centre - point)).sum().squareRoot() * 0.5
                #expect(label(inward) == structure.rawValue, "seed \(seed) \(name)")
                let outward = point + SIMD3(0, 0, name == "liver tip" ? -0.5 : 0.5)
                #expect(!a.organs[structure]!.contains(outward), "seed \(seed) \(name) is not extreme")
            }
            #expect(label(a.landmark("right kidney centre")!) == 3, "seed \(seed)")
            #expect(label(a.landmark("left kidney centre")!) == 4, "seed \(seed)")
            #expect(label(a.landmark("vertebral body centre")!) == 5, "seed \(seed)")
            let d = a.distances.first { $0.name == "liver craniocaudal length" }!
            let dome = a.landmark("liver dome")!, tip = a.landmark("liver tip")!
            #expect(abs(d.millimetres - ((dome - tip) * (dome - tip)).sum().squareRoot()) < 1e-9)
            #expect(
                a.distances.map(\.name) == ["liver craniocaudal length", "interrenal distance", "spleen to left kidney"]
            )
        }
    }

    /// The default `samples ct` slab (64 × 2.5 mm, 320 mm field of view) holds every labelled
    /// structure whole, for every seed.
    @Test func everyStructureFitsTheDefaultSlab() {
        let halfHeight = 63 * 2.5 / 2, halfWidth = 160.0
        for seed in Self.seeds {
            let a = AbdomenPhantom(seed: seed, lesion: false)
            for (structure, e) in a.organs {
                for axis in [SIMD3<Double>(1, 0, 0), SIMD3(0, 1, 0), SIMD3(0, 0, 1)] {
                    let hi = e.extremePoint(along: axis), lo = e.extremePoint(along: -axis)
                    let limit = axis.z == 1 ? halfHeight : halfWidth
                    #expect(
                        abs((hi * axis).sum()) < limit && abs((lo * axis).sum()) < limit, "seed \(seed) \(structure)")
                }
            }
        }
    }

    @Test func lesionIsHypodenseAndWhollyInsideTheLiver() {
        var random: Set<Bool> = []
        for seed in Self.seeds {
            random.insert(AbdomenPhantom.randomLesion(seed: seed))
            let a = AbdomenPhantom(seed: seed, lesion: true)
            let lesion = try! #require(a.lesion)
            #expect((8...20).contains(lesion.radius) && (25...50).contains(lesion.contrast), "seed \(seed)")
            let liver = a.organs[.liver]!.value
            #expect(a.phantom.sample(lesion.center) == (liver - lesion.contrast, 1), "seed \(seed)")
            let without = AbdomenPhantom(seed: seed, lesion: false).phantom
            for i in 0..<200 {
                // Points on and just inside the lesion's surface are liver without the lesion.
                let z = 1 - 2 * (Double(i) + 0.5) / 200, r = (1 - z * z).squareRoot(), t = 2.4 * Double(i)
                let q = lesion.center + SIMD3(r * cos(t), r * sin(t), z) * lesion.radius
                #expect(without.sample(q).label == 1, "seed \(seed)")
            }
        }
        #expect(random == [true, false])
    }

    @Test func gaussianNoiseHasTheStatedDeviation() {
        var p = Phantom(background: 0, ellipsoids: [], noise: 12)
        p.noiseModel = .gaussian
        var rng = SplitMix64(seed: 3)
        let draws = (0..<20000).map { _ in p.noisy(40, using: &rng) }
        let mean = draws.reduce(0, +) / Double(draws.count)
        let sd = (draws.map { ($0 - mean) * ($0 - mean) }.reduce(0, +) / Double(draws.count)).squareRoot()
        #expect(abs(mean - 40) < 0.3 && abs(sd - 12) < 0.3)
        // Rician: positive, and for a strong signal about signal + σ²/2s.
        p.noiseModel = .rician
        let magnitudes = (0..<20000).map { _ in p.noisy(0, using: &rng) }
        #expect(magnitudes.allSatisfy { $0 >= 0 })
        // Rayleigh mean σ·√(π/2) in air.
        let rayleigh = magnitudes.reduce(0, +) / Double(magnitudes.count)
        #expect(abs(rayleigh - 12 * (Double.pi / 2).squareRoot()) < 0.3)
    }
}
