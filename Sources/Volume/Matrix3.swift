/// A 3×3 matrix of doubles stored by columns, for direction cosines (Foundation's `simd` matrix
/// types are not available on Linux).
public struct Matrix3: Sendable, Codable, Equatable, Hashable {
    /// Column 0, 1, 2. In a `Geometry` these are the patient-space directions of the i, j and k
    /// index axes.
    public var c0: SIMD3<Double>
    public var c1: SIMD3<Double>
    public var c2: SIMD3<Double>

    public init(columns c0: SIMD3<Double>, _ c1: SIMD3<Double>, _ c2: SIMD3<Double>) {
        self.c0 = c0
        self.c1 = c1
        self.c2 = c2
    }

    public static let identity = Matrix3(columns: SIMD3(1, 0, 0), SIMD3(0, 1, 0), SIMD3(0, 0, 1))

    /// Element at (row, column).
    public subscript(row: Int, column: Int) -> Double {
        get { self[column: column][row] }
        set { self[column: column][row] = newValue }
    }

    public subscript(column column: Int) -> SIMD3<Double> {
        get { column == 0 ? c0 : column == 1 ? c1 : c2 }
        set {
            switch column {
            case 0: c0 = newValue
            case 1: c1 = newValue
            default: c2 = newValue
            }
        }
    }

    public static func * (m: Matrix3, v: SIMD3<Double>) -> SIMD3<Double> { m.c0 * v.x + m.c1 * v.y + m.c2 * v.z }

    public static func * (a: Matrix3, b: Matrix3) -> Matrix3 { Matrix3(columns: a * b.c0, a * b.c1, a * b.c2) }

    public var transposed: Matrix3 {
        Matrix3(columns: SIMD3(c0.x, c1.x, c2.x), SIMD3(c0.y, c1.y, c2.y), SIMD3(c0.z, c1.z, c2.z))
    }

    public var determinant: Double { dot(c0, cross(c1, c2)) }

    /// The inverse, or nil when the matrix is singular.
    public var inverse: Matrix3? {
        let det = determinant
        guard abs(det) > 1e-12 else { return nil }
        // Rows of the inverse are the cross products of the columns, divided by the determinant.
        let r0 = cross(c1, c2) / det, r1 = cross(c2, c0) / det, r2 = cross(c0, c1) / det
        return Matrix3(columns: r0, r1, r2).transposed
    }

    public static func == (a: Matrix3, b: Matrix3) -> Bool { a.c0 == b.c0 && a.c1 == b.c1 && a.c2 == b.c2 }

    public func hash(into hasher: inout Hasher) {
        hasher.combine(c0)
        hasher.combine(c1)
        hasher.combine(c2)
    }

    enum CodingKeys: String, CodingKey { case columns }

    public init(from decoder: any Decoder) throws {
        let container = try decoder.container(keyedBy: CodingKeys.self)
        let columns = try container.decode([SIMD3<Double>].self, forKey: .columns)
        guard columns.count == 3 else {
            throw DecodingError.dataCorruptedError(forKey: .columns, in: container, debugDescription: "need 3 columns")
        }
        self.init(columns: columns[0], columns[1], columns[2])
    }

    public func encode(to encoder: any Encoder) throws {
        var container = encoder.container(keyedBy: CodingKeys.self)
        try container.encode([c0, c1, c2], forKey: .columns)
    }
}

// Vector helpers of the patient coordinate system, shared with the modules above (Results).

@inline(__always) public func dot(_ a: SIMD3<Double>, _ b: SIMD3<Double>) -> Double { (a * b).sum() }

@inline(__always) public func cross(_ a: SIMD3<Double>, _ b: SIMD3<Double>) -> SIMD3<Double> {
    SIMD3(a.y * b.z - a.z * b.y, a.z * b.x - a.x * b.z, a.x * b.y - a.y * b.x)
}

@inline(__always) public func length(_ a: SIMD3<Double>) -> Double { dot(a, a).squareRoot() }

@inline(__always) public func normalized(_ a: SIMD3<Double>) -> SIMD3<Double> { a / length(a) }

@inline(__always) public func maxAbs(_ a: SIMD3<Double>) -> Double { max(abs(a.x), abs(a.y), abs(a.z)) }
