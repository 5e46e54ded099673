/// An analytic phantom in patient coordinates (LPS, millimetres): ellipsoids with a value and a
/// label, evaluated at any point, so every generated series has an exact ground truth whatever
/// its orientation, spacing or tilt.
public struct Phantom: Sendable {
    public struct Ellipsoid: Sendable {
        public var center: SIMD3<Double>
        public var radii: SIMD3<Double>
        /// Value added inside (HU for CT, arbitrary units for MR).
        public var value: Double
        /// Label in the ground-truth map (0 leaves the label unchanged).
        public var label: Int

        public init(center: SIMD3<Double>, radii: SIMD3<Double>, value: Double, label: Int) {
            self.center = center
            self.radii = radii
            self.value = value
            self.label = label
        }

        public func contains(_ p: SIMD3<Double>) -> Bool {
            let d = (p - center) / radii
            return (d * d).sum() <= 1
        }
    }

    public var background: Double
    /// Later ellipsoids are painted over earlier ones.
    public var ellipsoids: [Ellipsoid]
    /// Amplitude of deterministic noise added to the value (uniform ±noise).
    public var noise: Double

    public init(background: Double, ellipsoids: [Ellipsoid], noise: Double = 0) {
        self.background = background
        self.ellipsoids = ellipsoids
        self.noise = noise
    }

    /// The noiseless value and the label at point `p`.
    public func sample(_ p: SIMD3<Double>) -> (value: Double, label: Int) {
        var value = background
        var label = 0
        for e in ellipsoids where e.contains(p) {
            value = e.value
            if e.label != 0 { label = e.label }
        }
        return (value, label)
    }

    /// A CT-like abdomen: body (soft tissue) with three organ-like structures and a bone,
    /// centred on `center`, sized to fit a field of view of about `size` mm.
    public static func abdomenCT(center: SIMD3<Double> = .zero, size: Double = 200, noise: Double = 10) -> Phantom {
        let s = size / 200
        func e(_ dx: Double, _ dy: Double, _ dz: Double, _ rx: Double, _ ry: Double, _ rz: Double, _ v: Double, _ l: Int) -> Ellipsoid {
            Ellipsoid(center: center + SIMD3(dx, dy, dz) * s, radii: SIMD3(rx, ry, rz) * s, value: v, label: l)
        }
        return Phantom(background: -1000, ellipsoids: [
            e(0, 0, 0, 90, 70, 120, 40, 0),       // body: soft tissue
            e(-35, -10, 10, 30, 25, 35, 60, 1),   // "liver" (patient right is −x in LPS? +x is left): label 1
            e(40, -5, 0, 15, 20, 25, 30, 2),      // "spleen": label 2
            e(0, 35, -10, 12, 12, 30, 700, 3),    // "vertebra": label 3
            e(10, 0, 20, 10, 10, 10, 160, 4),     // "lesion"-like enhancing sphere: label 4
        ], noise: noise)
    }
}

extension Phantom {
    /// An MR-like head: positive signal only (unsigned storage without rescale), a skull-like
    /// shell, two hemispheres of different intensity and a bright lesion.
    public static func headMR(center: SIMD3<Double> = .zero, size: Double = 200, noise: Double = 8) -> Phantom {
        let s = size / 200
        func e(_ dx: Double, _ dy: Double, _ dz: Double, _ rx: Double, _ ry: Double, _ rz: Double, _ v: Double, _ l: Int) -> Ellipsoid {
            Ellipsoid(center: center + SIMD3(dx, dy, dz) * s, radii: SIMD3(rx, ry, rz) * s, value: v, label: l)
        }
        return Phantom(background: 20, ellipsoids: [
            e(0, 0, 0, 80, 95, 90, 300, 0),       // scalp and skull
            e(0, 0, 0, 72, 87, 82, 900, 1),       // brain: label 1
            e(-30, 0, 10, 30, 50, 40, 1100, 2),   // right hemisphere region: label 2
            e(25, 20, -15, 12, 12, 12, 2000, 3),  // lesion: label 3
        ], noise: noise)
    }
}
