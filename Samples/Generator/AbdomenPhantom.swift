import Foundation
import SeededRandom
import Volume

/// An abdominal CT phantom that varies with its seed, for training and evaluating models on data
/// with known truth: body size, pose, organ radii, HU values and noise are drawn per seed;
/// labels, landmarks and distances follow analytically.
///
/// Anatomy (LPS: +x patient left, +y posterior, +z superior), in the phantom's own frame before
/// the pose: air around a body of subcutaneous fat, a muscle wall and visceral fat inside it; liver
/// on the patient's right (−x),
/// spleen posterior-left, both kidneys posterior beside a vertebral body (cortical shell and
/// cancellous core), the aorta in front of it, and a few bowel-gas pockets anteriorly. Sizes keep
/// every organ inside the default `samples ct` slab (64 × 2.5 mm) for every seed.
///
/// ```swift
/// let abdomen = AbdomenPhantom(seed: 7, lesion: true)
/// var generator = SeriesGenerator()
/// generator.phantom = abdomen.phantom
/// let dome = abdomen.landmark("liver dome")    // LPS mm
/// ```
public struct AbdomenPhantom: Sendable {
    /// Ground-truth labels (fixed for every seed).
    public enum Structure: Int, Sendable, CaseIterable {
        case liver = 1, spleen, rightKidney, leftKidney, vertebra

        public var name: String {
            switch self {
            case .liver: "liver"
            case .spleen: "spleen"
            case .rightKidney: "right kidney"
            case .leftKidney: "left kidney"
            case .vertebra: "vertebra"
            }
        }
    }

    /// A hypodense sphere wholly inside the liver; its voxels keep the liver label.
    public struct Lesion: Sendable {
        public var center: SIMD3<Double>
        public var radius: Double
        /// HU below the liver's value.
        public var contrast: Double
    }

    public struct Landmark: Sendable {
        public var name: String
        public var point: SIMD3<Double>
    }

    public struct Distance: Sendable {
        public var name: String
        public var from: String
        public var to: String
        public var millimetres: Double
    }

    public var seed: UInt64
    public var phantom: Phantom
    public var lesion: Lesion?
    /// The six named landmarks, LPS mm, in a fixed order.
    public var landmarks: [Landmark]
    /// The three named distances between landmarks.
    public var distances: [Distance]
    /// The ellipsoid that defines each labelled structure (its outer surface).
    public var organs: [Structure: Phantom.Ellipsoid]
    /// Pose: isotropic scale, translation (mm) and rotation angles about x, y, z (degrees).
    public var scale: Double
    public var translation: SIMD3<Double>
    public var rotationDegrees: SIMD3<Double>
    /// Kidneys and aorta in an arterial/portal phase (cortex 150–180 HU) rather than unenhanced.
    public var contrastEnhanced: Bool
    /// Standard deviation of the Gaussian noise, HU.
    public var noiseSD: Double

    /// Whether `--lesion random` puts a lesion in the phantom of `seed` (half of the seeds do).
    public static func randomLesion(seed: UInt64) -> Bool {
        var rng = SplitMix64(seed: seed ^ 0x4C45_5349_4F4E) // "LESION": a stream apart from the anatomy's
        return rng.next() & 1 == 1
    }

    public init(seed: UInt64, lesion withLesion: Bool) {
        self.seed = seed
        // Anatomy and lesion draw from separate streams, so one seed gives the same body with and
        // without a lesion.
        var rng = SplitMix64(seed: seed)
        scale = rng.uniform(0.88...1.12)
        translation = SIMD3(rng.uniform(-15...15), rng.uniform(-15...15), rng.uniform(-15...15))
        rotationDegrees = SIMD3(rng.uniform(-4...4), rng.uniform(-4...4), rng.uniform(-8...8))
        let pose = Self.rotation(degrees: rotationDegrees)
        contrastEnhanced = rng.nextUnit() < 0.5
        noiseSD = rng.uniform(8...20)

        let (scale, translation) = (scale, translation)
        var rngCopy = rng
        /// An ellipsoid given in the phantom frame, placed by the pose; radii vary ±15 % per axis
        /// when `vary`.
        func place(
            _ c: SIMD3<Double>, _ r: SIMD3<Double>, _ hu: Double, _ label: Int, vary: Bool = false,
            tilt: Matrix3 = .identity
        ) -> Phantom.Ellipsoid {
            let radii =
                vary
                ? r * SIMD3(rngCopy.uniform(0.85...1.15), rngCopy.uniform(0.85...1.15), rngCopy.uniform(0.85...1.15))
                : r
            return Phantom.Ellipsoid(
                center: translation + pose * (c * scale), radii: radii * scale, value: hu, label: label,
                rotation: pose * tilt)
        }
        func hu(_ range: ClosedRange<Double>) -> Double { rngCopy.uniform(range).rounded() }

        let fat = place(SIMD3(0, 0, 0), SIMD3(130, 100, 400), hu(-110 ... -90), 0)
        let muscle = place(SIMD3(0, 0, 0), SIMD3(118, 88, 400), hu(35...45), 0)
        // Inside the 12 mm muscle wall: visceral and retroperitoneal fat (with the bowel's partial
        // volume), which outlines every organ as it does on real CT. Without it the unenhanced
        // kidneys (30–40 HU) and the spleen (40–50 HU) would lie in muscle-valued tissue with no
        // edge at all, and no reader or model could delineate them.
        let visceral = place(SIMD3(0, 0, 0), SIMD3(106, 76, 400), hu(-80 ... -50), 0)
        let aorta = place(SIMD3(12, 18, 0), SIMD3(11, 11, 400), contrastEnhanced ? hu(150...200) : hu(35...45), 0)
        // Portal-venous phase: liver and spleen enhance too (about 100–130 HU on real scans).
        let liverHU = contrastEnhanced ? hu(100...120) : hu(55...65)
        let liver = place(SIMD3(-50, -5, 5), SIMD3(50, 48, 42), liverHU, Structure.liver.rawValue, vary: true)
        let spleen = place(
            SIMD3(70, 25, 15), SIMD3(18, 32, 28), contrastEnhanced ? hu(110...130) : hu(40...50),
            Structure.spleen.rawValue, vary: true)
        // Kidneys: long axes tilted ~10° outward at the lower pole (rotation about y).
        let kidneyHU = contrastEnhanced ? hu(150...180) : hu(30...40)
        let medullaHU = contrastEnhanced ? hu(90...120) : kidneyHU
        let rightKidney = place(
            SIMD3(-50, 55, -18), SIMD3(22, 16, 28), kidneyHU, Structure.rightKidney.rawValue, vary: true,
            tilt: Self.rotation(degrees: SIMD3(0, -10, 0)))
        let leftKidney = place(
            SIMD3(50, 55, -10), SIMD3(22, 16, 28), kidneyHU, Structure.leftKidney.rawValue, vary: true,
            tilt: Self.rotation(degrees: SIMD3(0, 10, 0)))
        func medulla(_ kidney: Phantom.Ellipsoid) -> Phantom.Ellipsoid {
            var inner = kidney
            inner.radii *= 0.6
            inner.value = medullaHU
            return inner
        }
        let cortical = place(
            SIMD3(0, 50, -10), SIMD3(20, 17, 15), hu(700...900), Structure.vertebra.rawValue, vary: true)
        var cancellous = cortical
        cancellous.radii -= 3 * scale
        cancellous.value = hu(250...400)
        let canal = place(SIMD3(0, 76, 0), SIMD3(8, 7, 400), hu(5...15), 0)
        var gas: [Phantom.Ellipsoid] = []
        for _ in 0..<(2 + Int(rngCopy.next() % 3)) {
            let c = SIMD3(rngCopy.uniform(10...50), rngCopy.uniform(-75 ... -50), rngCopy.uniform(-40...40))
            let r = rngCopy.uniform(6...13)
            gas.append(
                place(c, SIMD3(r, r * rngCopy.uniform(0.6...1), r * rngCopy.uniform(0.8...1.4)), hu(-1000 ... -900), 0))
        }

        var ellipsoids = [
            fat, muscle, visceral, aorta, liver, spleen, rightKidney, medulla(rightKidney), leftKidney,
            medulla(leftKidney),
            cortical, cancellous, canal
        ]
        ellipsoids += gas
        var phantom = Phantom(background: -1000, ellipsoids: ellipsoids, noise: noiseSD)
        phantom.noiseModel = .gaussian
        organs = [
            .liver: liver, .spleen: spleen, .rightKidney: rightKidney, .leftKidney: leftKidney, .vertebra: cortical
        ]

        if withLesion {
            var lesionRNG = SplitMix64(seed: seed ^ 0x4C45_5349_4F4E &+ 1)
            let found = Self.placeLesion(in: liver, phantom: phantom, using: &lesionRNG)
            lesion = found
            phantom.ellipsoids.append(
                Phantom.Ellipsoid(
                    center: found.center, radii: SIMD3(repeating: found.radius),
                    value: liverHU - found.contrast, label: Structure.liver.rawValue))
        } else {
            lesion = nil
        }
        self.phantom = phantom

        let up = SIMD3<Double>(0, 0, 1)
        landmarks = [
            Landmark(name: "liver dome", point: liver.extremePoint(along: up)),
            Landmark(name: "liver tip", point: liver.extremePoint(along: -up)),
            Landmark(name: "spleen superior pole", point: spleen.extremePoint(along: up)),
            Landmark(name: "right kidney centre", point: rightKidney.center),
            Landmark(name: "left kidney centre", point: leftKidney.center),
            Landmark(name: "vertebral body centre", point: cortical.center)
        ]
        let points = Dictionary(uniqueKeysWithValues: landmarks.map { ($0.name, $0.point) })
        func distance(_ name: String, _ a: String, _ b: String) -> Distance {
            let d = points[a]! - points[b]!
            return Distance(name: name, from: a, to: b, millimetres: (d * d).sum().squareRoot())
        }
        distances = [
            distance("liver craniocaudal length", "liver dome", "liver tip"),
            distance("interrenal distance", "right kidney centre", "left kidney centre"),
            distance("spleen to left kidney", "spleen superior pole", "left kidney centre")
        ]
    }

    /// The landmark named `name` (nil for an unknown name).
    public func landmark(_ name: String) -> SIMD3<Double>? { landmarks.first { $0.name == name }?.point }

    /// Label number → name, for every structure.
    public static var labelNames: [Int: String] {
        Dictionary(uniqueKeysWithValues: Structure.allCases.map { ($0.rawValue, $0.name) })
    }

    /// A sphere of radius 8–20 mm whose every point is liver in `phantom` (not only inside the
    /// liver ellipsoid: another organ painted over the liver's edge must not take part of it).
    /// Candidates are drawn in the ellipsoid's normalised frame, where the sphere of radius r
    /// maps into a ball of radius at most r / (smallest radius); 64 surface points are checked.
    static func placeLesion(in liver: Phantom.Ellipsoid, phantom: Phantom, using rng: inout SplitMix64) -> Lesion {
        let contrast = rng.uniform(25...50).rounded()
        var radius = rng.uniform(8...20)
        let axes = liver.rotation ?? .identity
        let directions = fibonacciSphere(64)
        while true {
            for _ in 0..<200 {
                let room = 1 - radius / liver.radii.min() - 0.05
                guard room > 0 else { break }
                var u: SIMD3<Double>
                repeat {
                    u = SIMD3(rng.uniform(-1...1), rng.uniform(-1...1), rng.uniform(-1...1))
                } while (u * u).sum() > 1
                let center = liver.center + axes * (liver.radii * u * room)
                let inside = ([SIMD3<Double>.zero] + directions).allSatisfy { d in
                    phantom.sample(center + d * radius).label == Structure.liver.rawValue
                }
                if inside { return Lesion(center: center, radius: radius, contrast: contrast) }
            }
            // The liver of every seed holds an 8 mm sphere; shrink towards it if the draw did not fit.
            radius = max(8, radius * 0.9)
        }
    }

    /// `n` nearly evenly spread unit vectors.
    static func fibonacciSphere(_ n: Int) -> [SIMD3<Double>] {
        let golden = Double.pi * (3 - 5.0.squareRoot())
        return (0..<n).map { i in
            let z = 1 - 2 * (Double(i) + 0.5) / Double(n)
            let r = (1 - z * z).squareRoot()
            return SIMD3(r * cos(golden * Double(i)), r * sin(golden * Double(i)), z)
        }
    }

    /// Rz · Ry · Rx for angles in degrees about x, y and z.
    public static func rotation(degrees: SIMD3<Double>) -> Matrix3 {
        let a = degrees * (Double.pi / 180)
        let rx = Matrix3(columns: SIMD3(1, 0, 0), SIMD3(0, cos(a.x), sin(a.x)), SIMD3(0, -sin(a.x), cos(a.x)))
        let ry = Matrix3(columns: SIMD3(cos(a.y), 0, -sin(a.y)), SIMD3(0, 1, 0), SIMD3(sin(a.y), 0, cos(a.y)))
        let rz = Matrix3(columns: SIMD3(cos(a.z), sin(a.z), 0), SIMD3(-sin(a.z), cos(a.z), 0), SIMD3(0, 0, 1))
        return rz * ry * rx
    }
}
