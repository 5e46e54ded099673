import DICOM
import Foundation

/// A colour in CIELab (D65 white point), as Recommended Display CIELab Value (0062,000D) encodes
/// it: L* 0…100 and a*, b* −128…127, each scaled linearly to 0…65535 (PS3.3 C.10.7.1.1).
public struct CIELabColor: Sendable, Hashable {
    public var l: Double
    public var a: Double
    public var b: Double

    public init(l: Double, a: Double, b: Double) {
        self.l = l
        self.a = a
        self.b = b
    }

    /// Converts an sRGB colour (components 0…255) through linear RGB and CIE XYZ (D65), the
    /// conversion DCMTK (`IODCIELabUtil`) and highdicom use.
    ///
    /// ```swift
    /// let red = CIELabColor(sRGB: (255, 0, 0)) // l ≈ 53.2, a ≈ 80.1, b ≈ 67.2
    /// ```
    public init(sRGB: (red: UInt8, green: UInt8, blue: UInt8)) {
        func linear(_ v: UInt8) -> Double {
            let c = Double(v) / 255
            return c <= 0.04045 ? c / 12.92 : pow((c + 0.055) / 1.055, 2.4)
        }
        let r = linear(sRGB.red), g = linear(sRGB.green), bl = linear(sRGB.blue)
        // sRGB primaries to XYZ, normalised by the D65 white point.
        let x = (0.4124564 * r + 0.3575761 * g + 0.1804375 * bl) / 0.95047
        let y = (0.2126729 * r + 0.7151522 * g + 0.0721750 * bl) / 1.0
        let z = (0.0193339 * r + 0.1191920 * g + 0.9503041 * bl) / 1.08883
        func f(_ t: Double) -> Double { t > 216.0 / 24389.0 ? cbrt(t) : (24389.0 / 27.0 * t + 16) / 116 }
        l = 116 * f(y) - 16
        a = 500 * (f(x) - f(y))
        b = 200 * (f(y) - f(z))
    }

    /// The three unsigned 16-bit values written to (0062,000D).
    public var dicomValues: [UInt16] {
        func scale(_ v: Double, _ lo: Double, _ hi: Double) -> UInt16 {
            UInt16(((min(hi, max(lo, v)) - lo) / (hi - lo) * 65535).rounded())
        }
        return [scale(l, 0, 100), scale(a, -128, 127), scale(b, -128, 127)]
    }
}
