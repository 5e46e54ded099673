import Foundation

/// How values between voxel centres are computed.
public enum Interpolation: String, Sendable, Codable {
    /// The nearest voxel: for label maps (values are never mixed).
    case nearest
    /// Trilinear: images; exact for fields linear in patient coordinates.
    case linear
    /// Cubic B-spline interpolation (third order, prefiltered so it passes through the samples):
    /// nnU-Net's choice for images (`order=3`).
    case bspline3
}

extension Geometry {
    /// The same origin and directions with a new spacing, covering the same extent: along each
    /// axis as many voxels as fit between the first and last voxel centre of this grid. When the
    /// new spacing divides the old one, every old voxel centre is also a new one, so a nearest
    /// round trip through the new grid returns the original values exactly.
    public func withSpacing(_ newSpacing: SIMD3<Double>) -> Geometry {
        var newSize = SIMD3<Int>(repeating: 1)
        for axis in 0..<3 {
            let extent = Double(size[axis] - 1) * spacing[axis]
            newSize[axis] = Int((extent / newSpacing[axis] + 1e-6).rounded(.down)) + 1
        }
        return Geometry(size: newSize, spacing: newSpacing, origin: origin, direction: direction)
    }

    /// The same voxel centres with the rows in reverse order (j runs against the column
    /// direction, from the last row to the first): the voxel order in which dcm2niix writes a
    /// series by default (docs/official-input-layouts.md §1), i and k unchanged.
    public var rowsReversed: Geometry {
        Geometry(
            size: size, spacing: spacing, origin: patientPoint(ofIndex: SIMD3(0, Double(size.y - 1), 0)),
            direction: Matrix3(columns: direction[column: 0], -direction[column: 1], direction[column: 2]))
    }

    /// The voxel order dcm2niix writes for a series (docs/official-input-layouts.md §1): the rows
    /// reversed, and for an MR 3-D acquisition then the axes permuted and flipped toward the
    /// nearest of RAS, as its `nii_setOrtho` does (`nearestToRASAsDcm2niix`). The same voxel
    /// centres either way.
    public func storedByDcm2niix(mr3DAcquisition: Bool) -> Geometry {
        mr3DAcquisition ? rowsReversed.nearestToRASAsDcm2niix : rowsReversed
    }

    /// dcm2niix's reorientation of MR 3-D acquisitions (`nii_setOrtho` in its nii_ortho.cpp),
    /// reproduced from what it does: with M the voxel-to-RAS matrix (columns: spacing ×
    /// direction, x and y negated from LPS),
    /// 1. nothing changes when M is diagonal with a positive diagonal;
    /// 2. of the eight corner voxels, the one nearest (Euclidean, first in corner order: bit 0
    ///    the i end, bit 1 j, bit 2 k) to the per-axis minimum of all eight decides which index
    ///    axes are flipped (those where it is the far end);
    /// 3. of the six axis permutations, in dcm2niix's order, the first with the largest
    ///    Σ_a f_a · M[π(a)][a] (strictly larger than 0) sends index axis a to output axis π(a);
    /// 4. the output starts at that corner.
    public var nearestToRASAsDcm2niix: Geometry {
        let toRAS = SIMD3<Double>(-1, -1, 1)
        let m = (0..<3).map { a in direction[column: a] * spacing[a] * toRAS } // m[a][w]: column a
        let diagonal = (0..<3).allSatisfy { a in
            (0..<3).allSatisfy { w in w == a ? m[a][w] > 0 : m[a][w] == 0 }
        }
        if diagonal { return self }
        var best = (distance: Double.infinity, corner: 0)
        let corners = (0..<8).map { c in
            patientPoint(
                ofIndex: SIMD3(
                    c & 1 != 0 ? Double(size.x - 1) : 0, c & 2 != 0 ? Double(size.y - 1) : 0,
                    c & 4 != 0 ? Double(size.z - 1) : 0)) * toRAS
        }
        let low = corners.dropFirst().reduce(corners[0]) { pointwiseMin($0, $1) }
        for (c, p) in corners.enumerated() {
            let d = ((p - low) * (p - low)).sum().squareRoot()
            if d < best.distance { best = (d, c) }
        }
        let flip = (0..<3).map { best.corner & (1 << $0) != 0 ? -1.0 : 1.0 }
        // π(a) for index axes a = 0, 1, 2, in the order dcm2niix tries them.
        let permutations = [[0, 1, 2], [0, 2, 1], [1, 0, 2], [1, 2, 0], [2, 0, 1], [2, 1, 0]]
        var chosen: [Int]? = nil, score = 0.0
        for p in permutations {
            let s = (0..<3).reduce(0.0) { $0 + flip[$1] * m[$1][p[$1]] }
            if s > score {
                score = s
                chosen = p
            }
        }
        guard let p = chosen else { return self }
        var axisFor = [0, 0, 0] // output axis → index axis
        for a in 0..<3 { axisFor[p[a]] = a }
        let corner = patientPoint(
            ofIndex: SIMD3(
                flip[0] < 0 ? Double(size.x - 1) : 0, flip[1] < 0 ? Double(size.y - 1) : 0,
                flip[2] < 0 ? Double(size.z - 1) : 0))
        let columns = axisFor.map { direction[column: $0] * flip[$0] }
        return Geometry(
            size: SIMD3(size[axisFor[0]], size[axisFor[1]], size[axisFor[2]]),
            spacing: SIMD3(spacing[axisFor[0]], spacing[axisFor[1]], spacing[axisFor[2]]), origin: corner,
            direction: Matrix3(columns: columns[0], columns[1], columns[2]))
    }

    /// The same voxel centres with the index axes permuted and flipped so that i, j and k run as
    /// close as possible to +x, +y and +z of LPS (left, posterior, superior): the canonical order
    /// for models trained on reoriented data. Reorienting onto it moves no voxel.
    public var canonical: Geometry {
        var axisFor = [Int](repeating: -1, count: 3) // patient axis → index axis
        var used = Set<Int>()
        // Assign the index axis most aligned with each patient axis, strongest alignments first.
        let pairs = (0..<3).flatMap { a in (0..<3).map { p in (a, p, abs(direction[column: a][p])) } }.sorted {
            $0.2 > $1.2
        }
        for (a, p, _) in pairs where axisFor[p] == -1 && !used.contains(a) {
            axisFor[p] = a
            used.insert(a)
        }
        var newSize = SIMD3<Int>.zero, newSpacing = SIMD3<Double>.zero
        var columns: [SIMD3<Double>] = []
        var corner = SIMD3<Double>.zero
        for p in 0..<3 {
            let a = axisFor[p]
            let flip = direction[column: a][p] < 0
            newSize[p] = size[a]
            newSpacing[p] = spacing[a]
            columns.append(flip ? -direction[column: a] : direction[column: a])
            if flip { corner[a] = Double(size[a] - 1) }
        }
        return Geometry(
            size: newSize, spacing: newSpacing, origin: patientPoint(ofIndex: corner),
            direction: Matrix3(columns: columns[0], columns[1], columns[2]))
    }
}

extension Volume {
    /// The volume resampled onto `target`: each target voxel centre is mapped to patient space
    /// and back into this volume's index space, and interpolated there. Target voxels outside
    /// this volume (beyond its first/last voxel centres) get `fill`. With `extendingEdges` the
    /// volume counts as grown by one voxel on every side that repeats its border, so a target
    /// grid sharing its field of view edge to edge (whose outer centres lie up to half a voxel
    /// beyond the outer source centres) gets no fill (nnU-Net's resize does the same).
    ///
    /// Grids whose axes are parallel (a reorientation, another spacing or origin: every
    /// resampling of the inference recipe) are resampled one axis at a time
    /// (`SeparableResampling`); others point by point (`resampledPointwise`). Both give the same
    /// values up to rounding; nearest gives identical values.
    ///
    /// ```swift
    /// let iso = image.resampled(to: image.geometry.withSpacing(SIMD3(1, 1, 1)), interpolation: .bspline3)
    /// let labels = prediction.resampled(to: image.geometry, interpolation: .nearest)
    /// ```
    public func resampled(
        to target: Geometry, interpolation: Interpolation = .linear, fill: Float = 0, extendingEdges: Bool = false,
        threads: Int? = nil
    ) -> Volume {
        guard let mapping = AxisMapping(from: geometry, to: target),
            interpolation == .nearest || mapping.keepsAxisOrder
        else {
            return resampledPointwise(
                to: target, interpolation: interpolation, fill: fill, extendingEdges: extendingEdges, threads: threads)
        }
        let voxels =
            interpolation == .nearest
            ? gathered(onto: target, mapping: mapping, fill: fill, extendingEdges: extendingEdges, threads: threads)
            : SeparableResampling.resample(
                self, to: target, mapping: mapping, interpolation: interpolation, fill: fill,
                extendingEdges: extendingEdges, threads: threads)
        return Volume(
            geometry: target, voxels: voxels, seriesInstanceUID: seriesInstanceUID,
            frameOfReferenceUID: frameOfReferenceUID)
    }

    /// Nearest-neighbour resampling between parallel grids: every target voxel copies the source
    /// voxel its per-axis taps name (axes may be permuted and flipped).
    func gathered(
        onto target: Geometry, mapping: AxisMapping, fill: Float, extendingEdges: Bool, threads: Int?
    )
        -> [Float]
    {
        let n = geometry.size, strides = [1, n.x, n.x * n.y]
        let offsets = (0..<3).map { a in
            let axis = mapping.sourceAxis[a]
            let taps = AxisTaps.nearest(source: n[axis], count: target.size[a], extendingEdges: extendingEdges) {
                mapping.coordinate(a, $0)
            }
            // An offset of -1 marks an index outside the source.
            return (0..<taps.count).map { taps.inside[$0] ? taps.index[$0] * strides[axis] : -1 }
        }
        var output = [Float](repeating: fill, count: target.voxelCount)
        let t = target.size
        voxels.withUnsafeBufferPointer { source in
            output.withUnsafeMutableBufferPointer { out in
                nonisolated(unsafe) let (src, dst) = (source, out)
                parallelFor(t.z, threads: threads) { k in
                    let oz = offsets[2][k]
                    guard oz >= 0 else { return }
                    for j in 0..<t.y {
                        let oy = offsets[1][j]
                        guard oy >= 0 else { continue }
                        let row = dst.baseAddress! + (k * t.y + j) * t.x
                        for i in 0..<t.x where offsets[0][i] >= 0 { row[i] = src[oz + oy + offsets[0][i]] }
                    }
                }
            }
        }
        return output
    }

    /// `resampled(to:)` computed point by point: every target voxel centre mapped through patient
    /// space on its own and interpolated in a 2 × 2 × 2 (linear) or 4 × 4 × 4 (B-spline)
    /// neighbourhood. Handles any pair of grids; for parallel ones it is the reference the
    /// separable path is tested against.
    public func resampledPointwise(
        to target: Geometry, interpolation: Interpolation = .linear, fill: Float = 0, extendingEdges: Bool = false,
        threads: Int? = nil
    ) -> Volume {
        if extendingEdges {
            return edgePadded().resampledPointwise(
                to: target, interpolation: interpolation, fill: fill, extendingEdges: false, threads: threads)
        }
        guard let inverse = geometry.indexToPatientMatrix.inverse else {
            preconditionFailure("resampling from a degenerate geometry")
        }
        // Target index → source continuous index: c = m · (i, j, k) + t.
        let m = inverse * target.indexToPatientMatrix
        let t = inverse * (target.origin - geometry.origin)
        let coefficients = interpolation == .bspline3 ? BSpline.coefficients(of: self, threads: threads) : voxels
        var output = [Float](repeating: fill, count: target.voxelCount)
        let source = geometry
        output.withUnsafeMutableBufferPointer { buffer in
            nonisolated(unsafe) let out = buffer
            coefficients.withUnsafeBufferPointer { values in
                nonisolated(unsafe) let data = values
                parallelFor(target.size.z, threads: threads) { k in
                    for j in 0..<target.size.y {
                        let row = t + m.c1 * Double(j) + m.c2 * Double(k)
                        var offset = target.offset(0, j, k)
                        for i in 0..<target.size.x {
                            let c = row + m.c0 * Double(i)
                            let value: Float? =
                                switch interpolation {
                                case .nearest: Sampler.nearest(data, source, c)
                                case .linear: Sampler.linear(data, source, c)
                                case .bspline3: BSpline.sample(data, source, c)
                                }
                            if let value { out[offset] = value }
                            offset += 1
                        }
                    }
                }
            }
        }
        return Volume(
            geometry: target, voxels: output, seriesInstanceUID: seriesInstanceUID,
            frameOfReferenceUID: frameOfReferenceUID)
    }

    /// The volume grown by one voxel on every side, repeating the border voxels.
    ///
    /// What `extendingEdges` means, materialised for the point-by-point path.
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

    /// The value at one patient point (LPS, mm), or nil outside the volume (beyond its first/last
    /// voxel centres). For point clouds that are not a grid, such as the voxel centres of a
    /// gantry-tilted series; `.bspline3` needs prefiltered coefficients and is not offered here.
    ///
    /// ```swift
    /// let t1 = try NIfTI.read(contentsOf: "ch2.nii.gz")
    /// let v = t1.value(atPatientPoint: SIMD3(10, -20, 35))          // trilinear
    /// ```
    public func value(atPatientPoint point: SIMD3<Double>, interpolation: Interpolation = .linear) -> Float? {
        precondition(interpolation != .bspline3, "point sampling supports nearest and linear")
        let c = geometry.continuousIndex(ofPatientPoint: point)
        return voxels.withUnsafeBufferPointer { data in
            interpolation == .nearest ? Sampler.nearest(data, geometry, c) : Sampler.linear(data, geometry, c)
        }
    }

    /// The volume on `target`, by default `geometry.canonical`: the same voxel centres with the
    /// axes permuted and flipped (e.g. `geometry.rowsReversed`), so no value changes.
    public func reoriented(to target: Geometry? = nil) -> Volume {
        let target = target ?? geometry.canonical
        var result = resampled(to: target, interpolation: .nearest)
        // When the slice axis keeps its direction, slice k is still slice k (only i/j moved), so
        // the per-slice DICOM references still apply.
        if target.direction.c2 == geometry.direction.c2 { result.sources = sources }
        return result
    }
}

/// Nearest and trilinear sampling of a volume at a continuous index.
enum Sampler {
    /// Indices within this distance outside the grid count as on its border (rounding in the
    /// index mapping must not turn a border voxel into fill).
    static let slack = 1e-6

    @inline(__always)
    static func nearest(_ data: UnsafeBufferPointer<Float>, _ g: Geometry, _ c: SIMD3<Double>) -> Float? {
        let i = Int((c.x + 0.5).rounded(.down)), j = Int((c.y + 0.5).rounded(.down)),
            k = Int((c.z + 0.5).rounded(.down))
        guard i >= 0, j >= 0, k >= 0, i < g.size.x, j < g.size.y, k < g.size.z,
            c.x >= -0.5 - slack, c.y >= -0.5 - slack, c.z >= -0.5 - slack
        else { return nil }
        return data[g.offset(i, j, k)]
    }

    /// The lower corner and weight along one axis, or nil outside [0, n − 1].
    @inline(__always)
    static func axis(_ x: Double, _ n: Int) -> (Int, Double)? {
        guard x >= -slack, x <= Double(n - 1) + slack else { return nil }
        if n == 1 { return (0, 0) }
        let clamped = min(max(x, 0), Double(n - 1))
        let lower = min(Int(clamped), n - 2)
        return (lower, clamped - Double(lower))
    }

    @inline(__always)
    static func linear(_ data: UnsafeBufferPointer<Float>, _ g: Geometry, _ c: SIMD3<Double>) -> Float? {
        guard let (i, fx) = axis(c.x, g.size.x), let (j, fy) = axis(c.y, g.size.y), let (k, fz) = axis(c.z, g.size.z)
        else {
            return nil
        }
        let dx = g.size.x > 1 ? 1 : 0, dy = g.size.y > 1 ? g.size.x : 0, dz = g.size.z > 1 ? g.size.x * g.size.y : 0
        let o = g.offset(i, j, k)
        func lerp(_ a: Double, _ b: Double, _ f: Double) -> Double { a + (b - a) * f }
        let c00 = lerp(Double(data[o]), Double(data[o + dx]), fx)
        let c10 = lerp(Double(data[o + dy]), Double(data[o + dy + dx]), fx)
        let c01 = lerp(Double(data[o + dz]), Double(data[o + dz + dx]), fx)
        let c11 = lerp(Double(data[o + dz + dy]), Double(data[o + dz + dy + dx]), fx)
        return Float(lerp(lerp(c00, c10, fy), lerp(c01, c11, fy), fz))
    }
}
