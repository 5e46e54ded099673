import Foundation
import SeededRandom
import Volume

/// MR phantoms made of a real brain template: a single series of the template itself (T1), and
/// a four-sequence study (T1, T1CE, T2, FLAIR) with a synthetic tumour.
///
/// Intensities: the template is scaled so that its 99.9th percentile of non-zero voxels becomes
/// `peak` (MR magnitude units), and Rician noise of σ = `noise` × peak is added, as in magnitude
/// images.
///
/// ```swift
/// let colin = try BrainTemplate.colin27()
/// var generator = SeriesGenerator()
/// generator.phantom = BrainPhantom.t1(colin, labels: colin.mask)
/// ```
public enum BrainPhantom {
    /// The template as a T1 series; `labels` (on the template grid) are the ground truth.
    public static func t1(
        _ template: BrainTemplate, labels: Volume?, peak: Double = 1000, noise: Double = 0.01
    ) -> Phantom {
        let scale = Float(peak) / template.robustMaximum()
        let image = Volume(geometry: template.image.geometry, voxels: template.image.voxels.map { max(0, $0 * scale) })
        return phantom(SampledImage(image: image, labels: labels), peak: peak, noise: noise)
    }

    static func phantom(
        _ base: SampledImage, ellipsoids: [Phantom.Ellipsoid] = [], peak: Double, noise: Double
    ) -> Phantom {
        var phantom = Phantom(background: 0, ellipsoids: ellipsoids, noise: noise * peak)
        phantom.noiseModel = .rician
        phantom.base = base
        return phantom
    }
}

/// Four co-registered MR sequences of one brain with a synthetic glioma-like tumour: peritumoral
/// edema (an ellipsoid), an enhancing tumour (a sphere inside it) and a necrotic core (a sphere
/// inside that), labelled as BraTS does (1 necrotic core, 2 edema, 3 enhancing tumour).
///
/// Contrasts: the template's brain voxels are split into CSF, grey and white matter by 1-D
/// k-means on intensity (soft fractions between the class means), and each sequence gives each
/// class its own signal: T1 is the template itself; T2 makes CSF brightest; FLAIR nulls CSF and
/// keeps grey above white matter; after contrast (T1CE) only the tumour rim enhances. Outside
/// the brain mask each sequence is a scaled copy of the template (scalp, skull, fat).
public struct BrainStudy: Sendable {
    public struct Tumour: Sendable {
        public var centre: SIMD3<Double>
        public var enhancingRadius: Double
        public var necrosisRadius: Double
        public var edemaCentre: SIMD3<Double>
        public var edemaRadii: SIMD3<Double>
        public var edemaRotation: Matrix3
    }

    public struct Channel: Sendable {
        public var sequence: MRSequence
        public var phantom: Phantom
    }

    public static let labelNames: [Int: String] = [1: "necrotic core", 2: "edema", 3: "enhancing tumour"]

    public var seed: UInt64
    public var tumour: Tumour
    /// Mean template intensity of CSF, grey and white matter (template units).
    public var tissueMeans: SIMD3<Double>
    /// T1, T1CE, T2, FLAIR, in that order.
    public var channels: [Channel]

    public init(template: BrainTemplate, seed: UInt64, peak: Double = 1000, noise: Double = 0.01) throws(SampleError) {
        guard let mask = template.mask else {
            throw SampleError(
                .badRequest, "a brain study needs a brain mask to place the tumour in", path: template.imagePath)
        }
        self.seed = seed
        let robust = Double(template.robustMaximum())
        let means = Self.tissueMeans(template.image, mask: mask)
        tissueMeans = means
        var rng = SplitMix64(seed: seed)
        tumour = try Self.placeTumour(in: mask, using: &rng)

        // Signals relative to `peak` of (CSF, GM, WM) and of (necrosis, edema, enhancing).
        let m = means / robust
        let t1Tissue = m
        let t1Tumour = SIMD3(m.x * 1.2, (m.y + m.z) / 2 * 0.9, m.y)
        var t1ceTumour = t1Tumour
        t1ceTumour.z = m.z * 1.6
        let sequences: [(MRSequence, tissue: SIMD3<Double>, tumour: SIMD3<Double>, outside: Double)] = [
            (.t1, t1Tissue, t1Tumour, 1),
            (.t1ce, t1Tissue, t1ceTumour, 1),
            (.t2, SIMD3(1.0, 0.45, 0.32), SIMD3(0.9, 0.75, 0.55), 0.6),
            (.flair, SIMD3(0.06, 0.5, 0.38), SIMD3(0.3, 0.85, 0.6), 0.5)
        ]
        var channels: [Channel] = []
        for (sequence, tissue, tumourSignal, outside) in sequences {
            // ±8 % per seed on the tumour's signals, the same draw order for every sequence.
            let jitter = SIMD3(rng.uniform(0.92...1.08), rng.uniform(0.92...1.08), rng.uniform(0.92...1.08))
            let signal = tumourSignal * jitter * peak
            let image = Self.contrast(
                template.image, mask: mask, means: means, tissue: tissue * peak,
                outside: outside * peak / robust)
            let t = tumour
            let ellipsoids = [
                Phantom.Ellipsoid(
                    center: t.edemaCentre, radii: t.edemaRadii, value: signal.y, label: 2, rotation: t.edemaRotation),
                Phantom.Ellipsoid(
                    center: t.centre, radii: SIMD3(repeating: t.enhancingRadius), value: signal.z, label: 3),
                Phantom.Ellipsoid(
                    center: t.centre, radii: SIMD3(repeating: t.necrosisRadius), value: signal.x, label: 1)
            ]
            channels.append(
                Channel(
                    sequence: sequence,
                    phantom: BrainPhantom.phantom(
                        SampledImage(image: image), ellipsoids: ellipsoids,
                        peak: peak, noise: noise)))
        }
        self.channels = channels
    }

    /// One sequence's image on the template grid: inside the mask the soft tissue fractions
    /// weight `tissue` (CSF, GM, WM signals); outside, the template × `outside`.
    static func contrast(
        _ image: Volume, mask: Volume, means: SIMD3<Double>, tissue: SIMD3<Double>, outside: Double
    ) -> Volume {
        var voxels = [Float](repeating: 0, count: image.voxels.count)
        for index in voxels.indices {
            let v = Double(image.voxels[index])
            guard mask.voxels[index] > 0 else {
                voxels[index] = Float(max(0, v * outside))
                continue
            }
            let f: SIMD3<Double>
            if v <= means.x {
                f = SIMD3(1, 0, 0)
            } else if v <= means.y {
                let t = (v - means.x) / (means.y - means.x)
                f = SIMD3(1 - t, t, 0)
            } else if v <= means.z {
                let t = (v - means.y) / (means.z - means.y)
                f = SIMD3(0, 1 - t, t)
            } else {
                f = SIMD3(0, 0, 1)
            }
            voxels[index] = Float((f * tissue).sum())
        }
        return Volume(geometry: image.geometry, voxels: voxels)
    }

    /// CSF, GM and WM means by 1-D k-means (3 classes) over the brain voxels, started at their
    /// 10th, 50th and 90th percentiles; computed on a 256-bin histogram.
    static func tissueMeans(_ image: Volume, mask: Volume) -> SIMD3<Double> {
        var values: [Float] = []
        for index in image.voxels.indices where mask.voxels[index] > 0 { values.append(image.voxels[index]) }
        values.sort()
        let lo = Double(values.first ?? 0), hi = Double(values.last ?? 1)
        let bins = 256, width = max(hi - lo, 1e-6) / Double(bins)
        var histogram = [Double](repeating: 0, count: bins)
        for v in values { histogram[min(bins - 1, Int((Double(v) - lo) / width))] += 1 }
        func percentile(_ p: Double) -> Double { Double(values[Int(Double(values.count - 1) * p)]) }
        var centres = [percentile(0.1), percentile(0.5), percentile(0.9)]
        for _ in 0..<50 {
            var sums = [Double](repeating: 0, count: 3), counts = [Double](repeating: 0, count: 3)
            for b in 0..<bins where histogram[b] > 0 {
                let x = lo + (Double(b) + 0.5) * width
                let c = (0..<3).min { abs(x - centres[$0]) < abs(x - centres[$1]) }!
                sums[c] += x * histogram[b]
                counts[c] += histogram[b]
            }
            let next = (0..<3).map { counts[$0] > 0 ? sums[$0] / counts[$0] : centres[$0] }
            if next == centres { break }
            centres = next
        }
        centres.sort()
        return SIMD3(centres[0], centres[1], centres[2])
    }

    /// Draws the tumour until the edema and the enhancing sphere lie inside the brain mask
    /// (centre and 64 surface points each), shrinking the sizes if a draw keeps failing.
    static func placeTumour(in mask: Volume, using rng: inout SplitMix64) throws(SampleError) -> Tumour {
        let g = mask.geometry
        let inside = mask.voxels.indices.filter { mask.voxels[$0] > 0 }
        guard !inside.isEmpty else { throw SampleError(.badInput, "the brain mask is empty") }
        func isBrain(_ p: SIMD3<Double>) -> Bool { (mask.value(atPatientPoint: p, interpolation: .nearest) ?? 0) > 0 }
        let directions = AbdomenPhantom.fibonacciSphere(64)
        var shrink = 1.0
        for _ in 0..<10 {
            for _ in 0..<500 {
                let index = inside[Int(rng.next() % UInt64(inside.count))]
                let k = index / (g.size.x * g.size.y), j = (index / g.size.x) % g.size.y, i = index % g.size.x
                let centre = g.patientPoint(ofIndex: SIMD3(Double(i), Double(j), Double(k)))
                let enhancing = rng.uniform(10...18) * shrink
                let necrosis = enhancing * rng.uniform(0.4...0.6)
                let radii = SIMD3(rng.uniform(6...16), rng.uniform(6...16), rng.uniform(6...16)) * shrink + enhancing
                let rotation = AbdomenPhantom.rotation(
                    degrees: SIMD3(
                        rng.uniform(-30...30), rng.uniform(-30...30),
                        rng.uniform(-180...180)))
                let edemaCentre = centre + SIMD3(rng.uniform(-4...4), rng.uniform(-4...4), rng.uniform(-4...4)) * shrink
                let edemaSurface = directions.map { edemaCentre + rotation * (radii * $0) }
                let tumourSurface = directions.map { centre + $0 * enhancing }
                if ([centre, edemaCentre] + edemaSurface + tumourSurface).allSatisfy(isBrain) {
                    return Tumour(
                        centre: centre, enhancingRadius: enhancing, necrosisRadius: necrosis,
                        edemaCentre: edemaCentre, edemaRadii: radii, edemaRotation: rotation)
                }
            }
            shrink *= 0.8
        }
        throw SampleError(.badRequest, "no room for a tumour inside the brain mask")
    }
}
