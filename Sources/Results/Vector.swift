// Small vector helpers; the Volume module keeps its own internal.

func dot(_ a: SIMD3<Double>, _ b: SIMD3<Double>) -> Double { (a * b).sum() }
func length(_ a: SIMD3<Double>) -> Double { dot(a, a).squareRoot() }
func maxAbs(_ a: SIMD3<Double>) -> Double { max(abs(a.x), abs(a.y), abs(a.z)) }

extension Double {
    /// Rounded to 4 decimals and printed without trailing zeros, for messages.
    var rounded4: String {
        let v = (self * 10000).rounded() / 10000
        return v == v.rounded() && abs(v) < 1e15 ? String(Int(v)) : String(v)
    }
}
