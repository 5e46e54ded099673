import Foundation
import SeededRandom
import Volume

/// An analytic phantom in patient coordinates (LPS, millimetres): ellipsoids with a value and a
/// label, evaluated at any point, so every generated series has an exact ground truth whatever
/// its orientation, spacing or tilt. An optional `base` image (real anatomy read from NIfTI)
/// replaces the constant background, so the same generator also writes MR of a real brain.
public struct Phantom: Sendable {
    public struct Ellipsoid: Sendable {
        public var center: SIMD3<Double>
        public var radii: SIMD3<Double>
        /// The value inside, painted over what lies below (HU for CT, arbitrary units for MR).
        public var value: Double
        /// Label in the ground-truth map (0 leaves the label unchanged).
        public var label: Int
        /// The ellipsoid's own axes in patient space (orthonormal columns: the directions of the
        /// first, second and third radius); nil keeps them along x, y and z.
        public var rotation: Matrix3?

        public init(center: SIMD3<Double>, radii: SIMD3<Double>, value: Double, label: Int, rotation: Matrix3? = nil) {
            self.center = center
            self.radii = radii
            self.value = value
            self.label = label
            self.rotation = rotation
        }

        public func contains(_ p: SIMD3<Double>) -> Bool {
            var offset = p - center
            if let rotation { offset = rotation.transposed * offset }
            let d = offset / radii
            return (d * d).sum() <= 1
        }

        /// The point of the surface farthest along `direction` (a unit vector): for +z, the most
        /// superior point. For x = c + R·diag(r)·u with |u| = 1, (x − c)·d is largest at
        /// u ∝ diag(r)·Rᵀ·d.
        public func extremePoint(along direction: SIMD3<Double>) -> SIMD3<Double> {
            let axes = rotation ?? .identity
            let w = radii * (axes.transposed * direction)
            let u = w / (w * w).sum().squareRoot()
            return center + axes * (radii * u)
        }

        /// Volume in mm³ (4/3·π·abc).
        public var volume: Double { 4 / 3 * Double.pi * radii.x * radii.y * radii.z }
    }

    /// How the deterministic noise is drawn (amplitude `noise`).
    public enum NoiseModel: String, Sendable {
        /// Uniform in ±noise (the original phantoms).
        case uniform
        /// Gaussian with standard deviation `noise` (CT quantum noise).
        case gaussian
        /// Magnitude of a complex signal with Gaussian noise of σ = `noise` in each channel: MR
        /// magnitude images, positive everywhere, Rayleigh-distributed in air.
        case rician
    }

    public var background: Double
    /// Later ellipsoids are painted over earlier ones.
    public var ellipsoids: [Ellipsoid]
    /// Amplitude of deterministic noise added to the value (see `noiseModel`).
    public var noise: Double
    public var noiseModel: NoiseModel = .uniform
    /// Real anatomy below the ellipsoids: its value (trilinear) replaces `background` inside it,
    /// its labels (nearest) are the ground truth where no ellipsoid sets one.
    public var base: SampledImage?

    public init(background: Double, ellipsoids: [Ellipsoid], noise: Double = 0) {
        self.background = background
        self.ellipsoids = ellipsoids
        self.noise = noise
    }

    /// The noiseless value and the label at point `p`.
    public func sample(_ p: SIMD3<Double>) -> (value: Double, label: Int) {
        var value = background
        var label = 0
        if let base {
            (value, label) = base.sample(p, outside: background)
        }
        for e in ellipsoids where e.contains(p) {
            value = e.value
            if e.label != 0 { label = e.label }
        }
        return (value, label)
    }

    /// `value` with one draw of noise from `rng`.
    public func noisy(_ value: Double, using rng: inout SplitMix64) -> Double {
        guard noise > 0 else { return value }
        switch noiseModel {
        case .uniform:
            return value + (Double(rng.next() % 2001) / 1000 - 1) * noise
        case .gaussian:
            return value + rng.nextGaussian() * noise
        case .rician:
            let real = value + rng.nextGaussian() * noise, imaginary = rng.nextGaussian() * noise
            return (real * real + imaginary * imaginary).squareRoot()
        }
    }

    /// A CT-like abdomen: body (soft tissue) with three organ-like structures and a bone,
    /// centred on `center`, sized to fit a field of view of about `size` mm.
    public static func abdomenCT(center: SIMD3<Double> = .zero, size: Double = 200, noise: Double = 10) -> Phantom {
        let s = size / 200
        func e(
            _ dx: Double, _ dy: Double, _ dz: Double, _ rx: Double, _ ry: Double, _ rz: Double, _ v: Double, _ l: Int
        ) -> Ellipsoid {
            Ellipsoid(center: center + SIMD3(dx, dy, dz) * s, radii: SIMD3(rx, ry, rz) * s, value: v, label: l)
        }
        return Phantom(
            background: -1000,
            ellipsoids: [
                e(0, 0, 0, 90, 70, 120, 40, 0), // body: soft tissue
                e(-35, -10, 10, 30, 25, 35, 60, 1), // "liver" (patient right is −x in LPS? +x is left): label 1
                e(40, -5, 0, 15, 20, 25, 30, 2), // "spleen": label 2
                e(0, 35, -10, 12, 12, 30, 700, 3), // "vertebra": label 3
                e(10, 0, 20, 10, 10, 10, 160, 4) // "lesion"-like enhancing sphere: label 4
            ], noise: noise)
    }
}

extension Phantom {
    /// An MR-like head: positive signal only (unsigned storage without rescale), a skull-like
    /// shell, two hemispheres of different intensity and a bright lesion.
    public static func headMR(center: SIMD3<Double> = .zero, size: Double = 200, noise: Double = 8) -> Phantom {
        let s = size / 200
        func e(
            _ dx: Double, _ dy: Double, _ dz: Double, _ rx: Double, _ ry: Double, _ rz: Double, _ v: Double, _ l: Int
        ) -> Ellipsoid {
            Ellipsoid(center: center + SIMD3(dx, dy, dz) * s, radii: SIMD3(rx, ry, rz) * s, value: v, label: l)
        }
        return Phantom(
            background: 20,
            ellipsoids: [
                e(0, 0, 0, 80, 95, 90, 300, 0), // scalp and skull
                e(0, 0, 0, 72, 87, 82, 900, 1), // brain: label 1
                e(-30, 0, 10, 30, 50, 40, 1100, 2), // right hemisphere region: label 2
                e(25, 20, -15, 12, 12, 12, 2000, 3) // lesion: label 3
            ], noise: noise)
    }
}
