import Foundation
import Results
import Testing
import TestSupport
import Volume

/// A label map must be on the source grid (affine within 1e-3 mm / 1e-5) to become a SEG.
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
