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

    /// The volume grown by one voxel on every side, repeating the border voxels.
    ///
    /// `resampled(to:)` fills target voxels beyond the outermost voxel *centres*; a grid that
    /// shares this one's field of view edge to edge has centres up to half a voxel beyond them.
    /// Resampling from the edge-padded volume extends the border values over that half voxel
    /// (nnU-Net's resize does the same), so no voxel of the field of view becomes fill.
    func edgePadded() -> Volume {
        let g = geometry
        let size = g.size &+ 2
        var voxels = [Float](repeating: 0, count: size.x * size.y * size.z)
        for k in 0..<size.z {
            let sk = min(max(k - 1, 0), g.size.z - 1)
            for j in 0..<size.y {
                let sj = min(max(j - 1, 0), g.size.y - 1)
                let row = g.offset(0, sj, sk), out = (k * size.y + j) * size.x
                voxels[out] = self.voxels[row]
                for i in 0..<g.size.x { voxels[out + 1 + i] = self.voxels[row + i] }
                voxels[out + size.x - 1] = self.voxels[row + g.size.x - 1]
            }
        }
        let grid = Geometry(
            size: size, spacing: g.spacing, origin: g.patientPoint(ofIndex: SIMD3(-1, -1, -1)),
            direction: g.direction)
        return Volume(
            geometry: grid, voxels: voxels, seriesInstanceUID: seriesInstanceUID,
            frameOfReferenceUID: frameOfReferenceUID)
    }
}

/// Largest absolute component.
func largest(_ v: SIMD3<Double>) -> Double { max(abs(v.x), abs(v.y), abs(v.z)) }
