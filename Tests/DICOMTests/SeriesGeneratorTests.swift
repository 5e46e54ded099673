import DICOM
import Foundation
import SampleGenerator
import TestSupport
import Testing

/// The generator is the ground truth of later volume and SEG tests, so its files must say what
/// it means: positions, orientation, spacing and stored values.
@Suite struct SeriesGeneratorTests {
    @Test func writesGeometryAndValues() throws {
        let dir = TemporaryDirectory()
        var generator = SeriesGenerator()
        generator.rows = 24
        generator.columns = 20
        generator.slices = 5
        generator.pixelSpacing = (row: 9, column: 10)
        generator.sliceSpacing = 12
        generator.rescaleIntercept = -1024
        generator.signed = false
        generator.bitsStored = 12
        generator.phantom.noise = 0
        generator.fileOrder = .shuffled
        let written = try generator.write(to: dir.path)
        #expect(written.files.count == 5)
        for (k, file) in written.files.enumerated() {
            let ds = try DataSet.read(contentsOf: file)
            #expect(try ds.int(.instanceNumber) == k + 1)
            #expect(try ds.string(.seriesInstanceUID) == written.seriesInstanceUID)
            let p = generator.position(ofSlice: k)
            #expect(try ds.doubles(.imagePositionPatient) == [p.x, p.y, p.z])
            #expect(try ds.doubles(.pixelSpacing) == [9, 10])
            let pixels = try ds.decodeFrame(0)
            // Stored = value − intercept; check a voxel inside the vertebra and one in air.
            for (r, c) in [(0, 0), (12, 10), (20, 10)] {
                let expected = generator.phantom.sample(generator.point(slice: k, row: r, column: c)).value + 1024
                #expect(Double(pixels[r * 20 + c]) == expected, "slice \(k) row \(r) column \(c)")
            }
        }
        let labels = generator.labels()
        #expect(labels.count == 5 * 24 * 20)
        #expect(Set(labels).isSuperset(of: [0, 1]))
    }
}
