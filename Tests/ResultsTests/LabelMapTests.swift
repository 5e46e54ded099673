import Foundation
import Results
import TestSupport
import Testing
import Volume

/// A label map must lie on the source grid's voxel centres (affine within 1e-3 mm / 1e-5, axes in any
/// order and direction) to become a SEG.
@Suite struct LabelMapTests {
    @Test func acceptsNIfTIOfTheSourceGrid() throws {
        let source = try GeneratedSource(.doubleObliqueMR)
        let labels = try LabelMap(NIfTI.read(contentsOf: source.writeLabels()), on: source.volume.geometry)
        #expect(labels.values == source.labels.map(UInt16.init))
        #expect(labels.geometry == source.volume.geometry)
    }

    @Test(arguments: ["size", "spacing", "origin", "direction"])
    func refusesLabelMapOffTheSourceGrid(_ part: String) throws {
        let source = try GeneratedSource(.axialCT)
        var g = source.volume.geometry
        var values = source.labels
        switch part {
        case "size":
            g.size.z -= 1
            values.removeLast(g.size.x * g.size.y)
        case "spacing": g.spacing.x += 0.01
        case "origin": g.origin.y += 0.005
        default:
            // About 0.006° about the slice normal.
            let a = 1e-4
            g.direction.c0 = SIMD3(cos(a), sin(a), 0)
            g.direction.c1 = SIMD3(-sin(a), cos(a), 0)
        }
        let path = try source.writeLabels(source.labelVolume(values, geometry: g), name: "off-grid.nii.gz")
        #expect {
            try LabelMap(NIfTI.read(contentsOf: path), on: source.volume.geometry)
        } throws: { error in
            guard let error = error as? ResultsError else { return false }
            // Both grids are named, and the part that differs.
            return error.code == .gridMismatch && error.field == part
                && error.description.contains("label map \(g.size.x)×\(g.size.y)×\(g.size.z)")
                && error.description.contains("source 48×40×12")
        }
    }

    /// Every axis order and every reversal of the source grid (dcm2niix flips rows and columns,
    /// nibabel reorders to RAS, SimpleITK writes LPS): reordered exactly, voxel for voxel.
    @Test(arguments: [[0, 1, 2], [0, 2, 1], [1, 0, 2], [1, 2, 0], [2, 0, 1], [2, 1, 0]])
    func acceptsEveryPermutationAndReversalOfTheSourceAxes(_ order: [Int]) throws {
        let source = try GeneratedSource(.doubleObliqueMR)
        let s = source.volume.geometry
        for flips in 0..<8 {
            let reversed = (0..<3).map { flips >> $0 & 1 == 1 }
            // Label axis a runs along source axis order[a], backwards where reversed.
            var corner = SIMD3<Double>(0, 0, 0)
            for a in 0..<3 where reversed[a] { corner[order[a]] = Double(s.size[order[a]] - 1) }
            let columns = (0..<3).map { s.direction[column: order[$0]] * (reversed[$0] ? -1 : 1) }
            let g = Geometry(
                size: SIMD3(s.size[order[0]], s.size[order[1]], s.size[order[2]]),
                spacing: SIMD3(s.spacing[order[0]], s.spacing[order[1]], s.spacing[order[2]]),
                origin: s.patientPoint(ofIndex: corner),
                direction: Matrix3(columns: columns[0], columns[1], columns[2]))
            // The same labels drawn on that grid: its voxel centres are the source's, so nearest is exact.
            let path = try source.writeLabels(
                source.labelVolume().resampled(to: g, interpolation: .nearest),
                name: "permuted.nii.gz")
            let labels = try LabelMap(NIfTI.read(contentsOf: path), on: s)
            #expect(labels.values == source.labels.map(UInt16.init), "order \(order), reversed \(reversed)")
            #expect(labels.geometry == s && labels.mapping.axis == order && labels.mapping.reversed == reversed)
        }
    }

    /// Half a voxel off: refused with the offset in mm; resampled nearest-neighbour only when asked.
    @Test func aHalfVoxelShiftIsRefusedNamingTheOffsetUnlessResamplingIsAsked() throws {
        let source = try GeneratedSource(.axialCT)
        var g = source.volume.geometry
        g.origin += g.direction.c0 * (g.spacing.x / 2)
        let shifted = source.labelVolume(geometry: g)
        #expect {
            try LabelMap(shifted, on: source.volume.geometry)
        } throws: { error in
            (error as? ResultsError)?.field == "origin"
                && (error as? ResultsError)?.message.contains("offset by (2.500, 0.000, 0.000) mm") == true
        }
        let resampled = try LabelMap(resampling: shifted, onto: source.volume.geometry)
        #expect(resampled.geometry == source.volume.geometry && resampled.values.count == source.labels.count)
    }

    @Test func refusesValuesThatAreNotLabels() throws {
        let source = try GeneratedSource(.axialCT)
        var volume = source.labelVolume()
        volume[3, 2, 1] = 1.5
        #expect {
            try LabelMap(volume, on: source.volume.geometry)
        } throws: { error in
            let error = error as? ResultsError
            return error?.code == .badLabelValue && error?.message.contains("(3, 2, 1)") == true
        }
        volume[3, 2, 1] = -1
        #expect(throws: ResultsError.self) { try LabelMap(volume, on: source.volume.geometry) }
    }
}
