import Foundation
import Testing
import Volume

@testable import Results

/// RT Structure Set contours in patient coordinates (PS3.3 C.8.8.6): each on its frame's plane,
/// and giving the label map back exactly when mapped to pixels and filled even-odd.
@Suite struct StructureSetContoursTests {
    @Test(arguments: [SourceKind.axialCT, .doubleObliqueMR, .nonSquarePixels, .reversedSlices])
    func contoursLieOnTheirFramesAndGiveTheLabelsBack(_ kind: SourceKind) throws {
        let source = try GeneratedSource(kind)
        let labels = try LabelMap(source.labelVolume(), on: source.volume.geometry)
        let values = Set(labels.values).subtracting([0]).sorted()
        #expect(!values.isEmpty)
        let rois = StructureSetContours.make(labels: labels, values: values)
        #expect(rois.map(\.value) == values)
        let g = labels.geometry
        let (columns, rows) = (g.size.x, g.size.y)
        for roi in rois {
            #expect(!roi.contours.isEmpty, "label \(roi.value)")
            var slices: [Int: [PixelContour]] = [:]
            for contour in roi.contours {
                // Back to continuous index: on the frame's plane, and on pixel corners.
                let corners = contour.points.map { point -> SIMD2<Double> in
                    let index = g.continuousIndex(ofPatientPoint: point)
                    #expect(abs(index.z - Double(contour.frameIndex)) < 1e-6, "off its frame's plane")
                    return SIMD2(index.x + 0.5, index.y + 0.5)
                }
                slices[contour.frameIndex, default: []].append(PixelContour(points: corners, isHole: contour.isHole))
            }
            for k in 0..<g.size.z {
                let expected = (0..<(rows * columns)).map { labels.values[k * rows * columns + $0] == roi.value }
                let filled = SliceContours.rasterize(slices[k] ?? [], rows: rows, columns: columns)
                #expect(filled == expected, "label \(roi.value), slice \(k)")
            }
        }
    }

    @Test func aLabelWithNoVoxelHasNoContours() throws {
        let source = try GeneratedSource(.axialCT)
        let labels = try LabelMap(source.labelVolume(), on: source.volume.geometry)
        let rois = StructureSetContours.make(labels: labels, values: [200])
        #expect(rois == [StructureSetContours(value: 200, contours: [])])
    }
}
