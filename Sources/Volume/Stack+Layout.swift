import DICOM
import Foundation

/// A checked, sorted stack and the grid its voxels will fill.
public struct StackLayout: Sendable, Codable {
    /// The output grid (orthogonal; for a tilted stack, the tilt-corrected grid).
    public var geometry: Geometry
    /// The slices in k order (increasing position along the slice normal).
    public var slices: [Slice]
    /// For a gantry-tilted stack resampled onto `geometry`: per slice, the offset (in column and
    /// row index units) from an output voxel to the source pixel at the same place, i.e. output
    /// (i, j) samples source (i + shift.x, j + shift.y). Empty otherwise.
    public var inPlaneShifts: [SIMD2<Double>]
    /// The measured tilt in degrees (angle between slice normal and slice track), 0 when straight.
    public var gantryTiltDegrees: Double
    public var warnings: [VolumeWarning]
}

extension Stack {
    /// Sorts the slices by position projected on the slice normal (row × column direction,
    /// PS3.3 C.7.6.2.1.1) and checks every gap against the median gap: a gap near zero is a
    /// duplicate position, a gap near a multiple of the median is a missing slice, any other gap
    /// outside `sliceGapTolerance` is non-uniform spacing. Positions must also lie on one track:
    /// either along the normal, or sheared along it by a constant in-plane vector (gantry tilt,
    /// which is resampled or refused as configured).
    public func layout(series: String, options: AssemblyOptions = AssemblyOptions()) throws(VolumeError) -> StackLayout
    {
        let normal = key.orientation.normal
        let sorted = slices.sorted { a, b in
            let da = dot(a.position, normal), db = dot(b.position, normal)
            return da != db
                ? da < db : (a.instanceNumber ?? 0, a.frameNumber ?? 0) < (b.instanceNumber ?? 0, b.frameNumber ?? 0)
        }
        var warnings: [VolumeWarning] = []
        let first = sorted[0]
        let direction = Matrix3(columns: key.orientation.row, key.orientation.column, normal)
        let inPlane = SIMD2(key.pixelSpacing.column, key.pixelSpacing.row)
        guard sorted.count > 1 else {
            guard options.allowSingleSlice else {
                throw VolumeError(
                    .singleSlice, "only one slice: no slice spacing can be measured", series: series,
                    instance: first.sopInstanceUID)
            }
            let thickness = first.spacingBetweenSlices ?? first.sliceThickness ?? 1
            warnings.append(
                VolumeWarning(.singleSlice, "single slice; slice spacing taken as \(thickness.rounded4) mm"))
            let geometry = Geometry(
                size: SIMD3(key.columns, key.rows, 1), spacing: SIMD3(inPlane.x, inPlane.y, thickness),
                origin: first.position, direction: direction)
            return StackLayout(
                geometry: geometry, slices: sorted, inPlaneShifts: [], gantryTiltDegrees: 0, warnings: warnings)
        }

        let distances = sorted.map { dot($0.position - first.position, normal) }
        let gaps = zip(distances.dropFirst(), distances).map { $0 - $1 }
        let median = gaps.sorted()[gaps.count / 2]
        let minimumGap = max(options.positionTolerance, 1e-4)
        for (index, gap) in gaps.enumerated() where gap < minimumGap {
            throw VolumeError(
                .duplicatePosition,
                "two slices at the same position (\(distances[index].rounded4) mm along the normal)",
                series: series, tag: .imagePositionPatient, instance: sorted[index + 1].sopInstanceUID)
        }
        for (index, gap) in gaps.enumerated() {
            let ratio = gap / median
            if abs(ratio - 1) <= options.sliceGapTolerance { continue }
            let multiple = ratio.rounded()
            if multiple >= 2, abs(ratio - multiple) <= options.sliceGapTolerance * multiple {
                throw VolumeError(
                    .missingSlice,
                    "gap of \(gap.rounded4) mm after slice \(index + 1) of \(sorted.count) is \(Int(multiple))× "
                        + "the median \(median.rounded4) mm: \(Int(multiple) - 1) slice(s) missing",
                    series: series, tag: .imagePositionPatient, instance: sorted[index + 1].sopInstanceUID)
            }
            throw VolumeError(
                .nonUniformSpacing,
                "gap of \(gap.rounded4) mm after slice \(index + 1) of \(sorted.count) differs from the median "
                    + "\(median.rounded4) mm by more than \(Int(options.sliceGapTolerance * 100))%",
                series: series, tag: .imagePositionPatient, instance: sorted[index + 1].sopInstanceUID)
        }
        // The mean gap over the whole stack: every gap was checked above, and the mean is what
        // the first and last slice positions imply (the median of rounded DS values is not).
        let spacing = distances.last! / Double(sorted.count - 1)
        if let largest = gaps.map({ abs($0 - spacing) }).max(), largest > options.positionTolerance {
            warnings.append(
                VolumeWarning(
                    .spacingVariation,
                    "slice gaps vary by up to \(largest.rounded4) mm around \(spacing.rounded4) mm"))
        }

        // In-plane offsets from the straight track; a shear proportional to the distance along
        // the normal is gantry tilt (PS3.3 C.8.2.1.1.2 Gantry/Detector Tilt).
        let offsets = zip(sorted, distances).map { $0.position - first.position - normal * $1 }
        var shifts: [SIMD2<Double>] = []
        var tilt = 0.0
        if offsets.map(maxAbs).max()! > options.positionTolerance {
            // The componentwise median of offset/distance: one misplaced slice cannot pull the
            // estimate, so the error names that slice rather than its neighbours.
            let ratios = zip(offsets, distances).dropFirst().map { $0 / $1 }
            func median(_ values: [Double]) -> Double { values.sorted()[values.count / 2] }
            let shear = SIMD3(median(ratios.map(\.x)), median(ratios.map(\.y)), median(ratios.map(\.z)))
            for (index, (offset, distance)) in zip(offsets, distances).enumerated()
            where maxAbs(offset - shear * distance) > options.positionTolerance {
                throw VolumeError(
                    .irregularPositions,
                    "slice \(index + 1) of \(sorted.count) is \(length(offset - shear * distance).rounded4) mm "
                        + "off the straight or tilted slice track", series: series, tag: .imagePositionPatient,
                    instance: sorted[index].sopInstanceUID)
            }
            tilt = atan(length(shear)) * 180 / .pi
            if let tag = first.gantryTilt, abs(abs(tag) - tilt) > 0.1 {
                warnings.append(
                    VolumeWarning(
                        .gantryTiltTagMismatch,
                        "slice positions imply \(tilt.rounded4)° of tilt, "
                            + "\(Tag.gantryDetectorTilt.described) says \(tag.rounded4)°"))
            }
            guard options.tiltPolicy == .resample else {
                throw VolumeError(
                    .gantryTilt, "gantry tilt of \(tilt.rounded4)° (sheared slice positions)", series: series,
                    tag: .gantryDetectorTilt)
            }
            warnings.append(
                VolumeWarning(
                    .gantryTiltResampled,
                    "gantry tilt of \(tilt.rounded4)° resampled onto an orthogonal grid"))
            // Output voxel (i, j) of slice k lies at source pixel (i, j) − shear·d_k in index units.
            shifts = distances.map { d in
                let delta = shear * d
                return SIMD2(
                    -dot(delta, key.orientation.row) / inPlane.x, -dot(delta, key.orientation.column) / inPlane.y)
            }
            // The corrected grid keeps the first slice's pixel lattice and grows by whole pixels
            // until every source pixel of every slice lies inside it (as dcm2niix's
            // tilt-corrected file does), so correction crops nothing.
            let low = SIMD2(shifts.map { -$0.x }.min()!.rounded(.down), shifts.map { -$0.y }.min()!.rounded(.down))
            let high = SIMD2(shifts.map { -$0.x }.max()!.rounded(.up), shifts.map { -$0.y }.max()!.rounded(.up))
            shifts = shifts.map { $0 + low }
            let size = SIMD3(key.columns + Int(high.x - low.x), key.rows + Int(high.y - low.y), sorted.count)
            let origin =
                first.position + key.orientation.row * (low.x * inPlane.x) + key.orientation.column
                * (low.y * inPlane.y)
            let geometry = Geometry(
                size: size, spacing: SIMD3(inPlane.x, inPlane.y, spacing), origin: origin, direction: direction)
            return StackLayout(
                geometry: geometry, slices: sorted, inPlaneShifts: shifts, gantryTiltDegrees: tilt,
                warnings: warnings)
        }
        let geometry = Geometry(
            size: SIMD3(key.columns, key.rows, sorted.count), spacing: SIMD3(inPlane.x, inPlane.y, spacing),
            origin: first.position, direction: direction)
        return StackLayout(
            geometry: geometry, slices: sorted, inPlaneShifts: shifts, gantryTiltDegrees: tilt, warnings: warnings)
    }
}
