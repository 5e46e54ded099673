import DICOM
import DICOMObjects
import Foundation
import TestSupport
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

/// The RT Structure Set file itself (PS3.3 A.19): dciodvfy clean, and its contours read back
/// from the file give the label map again on every geometry.
@Suite struct StructureSetWriterTests {
    @Test(arguments: [SourceKind.axialCT, .doubleObliqueMR, .nonSquarePixels, .reversedSlices])
    func writtenStructureSetValidatesAndReadsBack(_ kind: SourceKind) throws {
        let written = try Written(kind.generator)
        let path = written.path
        let report = try ExternalTool.run("dciodvfy", [path]).output
        #expect(ReadBack.errors(report) == [], "\(report)")
    }

    static func writer(labels: LabelMap, values: [UInt16], images: SourceImages) throws -> StructureSetWriter {
        let rois = StructureSetContours.make(labels: labels, values: values)
        let uids = try UIDGenerator(root: nil)
        return try StructureSetWriter(
            grid: images.grid, frameOfReferenceUID: try #require(images.frameOfReferenceUID),
            rois: rois.map {
                StructureSetROI(
                    name: "label \($0.value)", color: SIMD3(200, 40, 40), interpretedType: "ORGAN",
                    algorithm: "test 1.0")
            },
            contours: rois.enumerated().flatMap { index, roi in
                roi.contours.map { StructureSetContour(roi: index, frame: $0.frameIndex, points: $0.points) }
            },
            series: SeriesIdentity(uids: uids, seriesNumber: 903, seriesDescription: "AI structures"), label: "AI",
            equipment: EquipmentIdentity(deviceSerialNumber: "test", softwareVersions: "0.1"))
    }

    /// rt-utils 1.2.7 (the PyPI release) assumes square images (its masks are Columns × Rows), so
    /// its read-back runs on square versions of the sources (non-square pixels stay non-square).
    @Test(arguments: [SourceKind.axialCT, .doubleObliqueMR, .reversedSlices])
    func rtUtilsReadsTheStructureSetBack(_ kind: SourceKind) throws {
        var generator = kind.generator
        generator.columns = generator.rows
        let w = try Written(generator)
        try Self.expectRTUtilsReadsBack(w.path, source: w.source, images: w.images, labels: w.labels, values: w.values)
    }

    /// rt-utils 1.2.7 also scales the row direction by the row spacing (rt-utils issue 92), so
    /// non-square pixels, and every other geometry, are read back by the standard's geometry
    /// alone (Tests/Scripts/rtstruct_plane_readback.py): Dice ≥ 0.95 per ROI, and every contour
    /// within 0.01 mm of the plane of the image it references.
    @Test(arguments: [SourceKind.axialCT, .doubleObliqueMR, .nonSquarePixels, .reversedSlices])
    func standardGeometryReadsTheStructureSetBack(_ kind: SourceKind) throws {
        let w = try Written(kind.generator)
        let layout = try Self.expectRTUtilsReadsBack(
            w.path, source: w.source, images: w.images, labels: w.labels, values: w.values,
            script: "rtstruct_plane_readback.py")
        #expect(try #require(layout.max_plane_distance) <= 0.01)
    }

    /// An ROI name outside ASCII (UTF-8 from Swift) on a source without a Specific Character Set:
    /// the structure set declares ISO_IR 192 and an independent reader gets the name back.
    @Test func nonASCIIROINameIsWrittenInUTF8() throws {
        let source = try GeneratedSource(.axialCT)
        let images = try SourceImages(volume: source.volume, series: source.series)
        let labels = try LabelMap(source.labelVolume(), on: images.geometry)
        let values = Set(labels.values).subtracting([0]).sorted()
        let rois = StructureSetContours.make(labels: labels, values: values)
        let writer = try StructureSetWriter(
            grid: images.grid, frameOfReferenceUID: try #require(images.frameOfReferenceUID),
            rois: rois.map {
                StructureSetROI(
                    name: "Rückenmark \($0.value)", color: SIMD3(200, 40, 40), interpretedType: "OAR",
                    algorithm: "test 1.0")
            },
            contours: rois.enumerated().flatMap { index, roi in
                roi.contours.map { StructureSetContour(roi: index, frame: $0.frameIndex, points: $0.points) }
            },
            series: SeriesIdentity(uids: try UIDGenerator(root: nil), seriesNumber: 903), label: "AI",
            equipment: EquipmentIdentity(deviceSerialNumber: "test", softwareVersions: "0.1"))
        let path = source.directory.file("rtstruct-utf8.dcm")
        try writer.write(to: path)
        let read = try VenvPython.run(
            script: "dicom_values.py", [path, "SpecificCharacterSet", "StructureSetROISequence[0].ROIName"])
        try #require(read.status == 0, "\(read.output)")
        #expect(read.output.contains("ISO_IR 192") && read.output.contains("Rückenmark \(values[0])"), "\(read.output)")
    }

    /// A generated source and the structure set of its ground-truth labels, written.
    struct Written {
        let source: GeneratedSource
        let images: SourceImages
        let labels: LabelMap
        let values: [UInt16]
        let path: String

        init(_ generator: SeriesGenerator) throws {
            source = try GeneratedSource(generator)
            images = try SourceImages(volume: source.volume, series: source.series)
            labels = try LabelMap(source.labelVolume(), on: images.geometry)
            values = Set(labels.values).subtracting([0]).sorted()
            path = source.directory.file("rtstruct.dcm")
            try StructureSetWriterTests.writer(labels: labels, values: values, images: images).write(to: path)
        }
    }

    struct Layout: Decodable {
        var rois: [String]
        var slices: [String]
        var rows: Int
        var columns: Int
        var max_plane_distance: Double?
    }

    /// rt-utils (Tests/Scripts/rtstruct_readback.py) or another reader `script` fills each ROI's
    /// contours on the slices they reference; each ROI's Dice against the label map it was made
    /// from must be at least 0.95.
    @discardableResult
    static func expectRTUtilsReadsBack(
        _ path: String, source: GeneratedSource, images: SourceImages, labels: LabelMap, values: [UInt16],
        script: String = "rtstruct_readback.py"
    ) throws -> Layout {
        let masks = source.directory.file("rtstruct-masks.bin")
        let result = try VenvPython.run(script: script, [path, source.directory.file("source"), masks])
        try #require(result.status == 0, "\(result.output)")
        let json = try #require(result.output.split(separator: "\n").last.map { Data($0.utf8) })
        let layout = try JSONDecoder().decode(Layout.self, from: json)
        let bytes = [UInt8](try Data(contentsOf: URL(fileURLWithPath: masks)))
        let g = labels.geometry
        let plane = g.size.x * g.size.y
        #expect(layout.rows == g.size.y && layout.columns == g.size.x)
        try #require(bytes.count == layout.rois.count * layout.slices.count * plane)
        let frameOf = Dictionary(uniqueKeysWithValues: images.grid.frames.enumerated().map { ($1.sopInstanceUID, $0) })
        for (r, name) in layout.rois.enumerated() {
            let value = values[r]
            #expect(name == "label \(value)")
            var both = 0, read = 0, truth = 0
            for (s, uid) in layout.slices.enumerated() {
                let k = try #require(frameOf[uid], "rt-utils slice \(uid) is not a source frame")
                for n in 0..<plane {
                    let a = bytes[(r * layout.slices.count + s) * plane + n] != 0
                    let b = labels.values[k * plane + n] == value
                    read += a ? 1 : 0
                    truth += b ? 1 : 0
                    both += a && b ? 1 : 0
                }
            }
            let dice = 2 * Double(both) / Double(max(1, read + truth))
            #expect(dice >= 0.95, "ROI \(name): Dice \(dice) (\(read) read, \(truth) labelled)")
        }
        return layout
    }
}
