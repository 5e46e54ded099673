import Volume

// Grid operations the inference adapter needs on top of `Volume` (docs/inference.md).

extension Volume {
    /// The sub-volume lower ..< upper (per i, j, k), on the same voxel centres.
    func cropped(lower: SIMD3<Int>, upper: SIMD3<Int>) -> Volume {
        let g = geometry
        let size = upper &- lower
        var voxels = [Float]()
        voxels.reserveCapacity(size.x * size.y * size.z)
        for k in lower.z..<upper.z {
            for j in lower.y..<upper.y {
                let row = g.offset(lower.x, j, k)
                voxels.append(contentsOf: self.voxels[row..<(row + size.x)])
            }
        }
        let grid = Geometry(
            size: size, spacing: g.spacing,
            origin: g.patientPoint(ofIndex: SIMD3(Double(lower.x), Double(lower.y), Double(lower.z))),
            direction: g.direction)
        return Volume(
            geometry: grid, voxels: voxels, seriesInstanceUID: seriesInstanceUID,
            frameOfReferenceUID: frameOfReferenceUID)
    }
}

/// Largest absolute component.
func largest(_ v: SIMD3<Double>) -> Double { max(abs(v.x), abs(v.y), abs(v.z)) }
