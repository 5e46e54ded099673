import DICOM
import DICOMObjects
import Foundation
import TestSupport
import Testing
import Volume

@testable import Results

/// The views of a result every PACS can show (docs/results.md, Outputs per destination): the
/// presentation state read back by pydicom and rendered by DCMTK, the Secondary Capture overlays
/// pixel by pixel, and the Key Object Selection, each dciodvfy clean.
@Suite struct ResultViewsTests {
    private func encoder(_ json: [String: Any]) throws -> ResultEncoder {
        try ResultEncoder(manifest: Manifests.decode(json), configuration: .test(), uids: UIDGenerator())
    }

    /// Label value of each phantom label name, as ``Manifests/phantomLabels`` lists them.
    static let valueOfName: [String: UInt16] = Dictionary(
        uniqueKeysWithValues: Manifests.phantomLabels.map {
            (PresentationLayer.layerName($0["name"] as! String), UInt16($0["value"] as! Int))
        })

    struct Encoded {
        let source: GeneratedSource
        let images: SourceImages
        let labels: LabelMap
        let result: EncodedResult

        init(_ kind: SourceKind, outputs: Set<EncodedObject.Kind>, encoder: ResultEncoder) throws {
            try self.init(kind.generator, outputs: outputs, encoder: encoder)
        }

        init(_ generator: SeriesGenerator, outputs: Set<EncodedObject.Kind>, encoder: ResultEncoder) throws {
            source = try GeneratedSource(generator)
            images = try SourceImages(volume: source.volume, series: source.series)
            labels = try LabelMap(source.labelVolume(), on: images.geometry)
            result = try encoder.encodeSegmentation(
                labels, source: images, outputs: outputs, into: source.directory.file("out"))
        }

        func objects(_ kind: EncodedObject.Kind) -> [EncodedObject] { result.objects.filter { $0.kind == kind } }
    }

    // MARK: - Presentation state

    /// The presentation state's outlines, filled by an independent reader, give each segment back
    /// (Dice ≥ 0.99 where the acceptance asks 0.90: the outlines run along pixel edges);
    /// dciodvfy and dcmpschk accept it and dcmp2pgm renders every image with it.
    @Test(arguments: [SourceKind.axialCT, .doubleObliqueMR, .nonSquarePixels, .reversedSlices])
    func presentationStateReadsBackAndRenders(_ kind: SourceKind) throws {
        let e = try Encoded(kind, outputs: [.presentationState], encoder: encoder(Manifests.segmentation()))
        try #require(e.result.objects.map(\.kind) == [.segmentation, .report, .presentationState])
        let gsps = e.result.objects[2]
        #expect(gsps.seriesNumber == 903 && gsps.sopClassUID == PresentationStateWriter.sopClassUID)
        #expect(try ReadBack.dciodvfyErrors(gsps.path) == [])
        let check = try ExternalTool.run("dcmpschk", [gsps.path])
        #expect(check.status == 0 && !check.output.contains("Error"), "\(check.output)")
        for (n, file) in e.source.written.files.enumerated() {
            let pgm = e.source.directory.file("render-\(n).pgm")
            let render = try ExternalTool.run("dcmp2pgm", ["-p", gsps.path, file, pgm])
            #expect(render.status == 0, "\(render.output)")
        }

        let masks = e.source.directory.file("gsps-masks.bin")
        let read = try VenvPython.run(script: "gsps_readback.py", [gsps.path, e.source.directory.file("source"), masks])
        try #require(read.status == 0, "\(read.output)")
        struct Layout: Decodable {
            var layers: [String]
            var slices: [String]
            var rows: Int
            var columns: Int
            var colors: [[Int]]
            var window: [Double]
        }
        let layout = try JSONDecoder().decode(
            Layout.self, from: try #require(read.output.split(separator: "\n").last.map { Data($0.utf8) }))
        #expect(layout.window == (kind == .doubleObliqueMR ? layout.window : [40, 400]))
        let bytes = [UInt8](try Data(contentsOf: URL(fileURLWithPath: masks)))
        let g = e.labels.geometry
        let plane = g.size.x * g.size.y
        try #require(layout.rows == g.size.y && layout.columns == g.size.x)
        try #require(bytes.count == layout.layers.count * layout.slices.count * plane)
        let frameOf = Dictionary(
            uniqueKeysWithValues: e.images.grid.frames.enumerated().map { ($1.sopInstanceUID, $0) })
        let present = Set(e.labels.values).subtracting([0])
        #expect(Set(layout.layers.compactMap { Self.valueOfName[$0] }) == present)
        for (l, name) in layout.layers.enumerated() {
            let value = try #require(Self.valueOfName[name])
            var both = 0, expected = 0, found = 0
            for (s, uid) in layout.slices.enumerated() {
                let k = try #require(frameOf[uid])
                for p in 0..<plane {
                    let a = e.labels.values[k * plane + p] == value
                    let b = bytes[(l * layout.slices.count + s) * plane + p] == 1
                    both += a && b ? 1 : 0
                    expected += a ? 1 : 0
                    found += b ? 1 : 0
                }
            }
            let dice = 2 * Double(both) / Double(expected + found)
            #expect(dice >= 0.99, "\(name): Dice \(dice)")
        }
    }

    /// An outline of more points than one graphic holds (8191) is drawn in pieces that share their
    /// end points, so the presentation state is still written and dcmpschk accepts it.
    @Test func longOutlinesAreDrawnInPieces() throws {
        var generator = SourceKind.axialCT.generator
        (generator.rows, generator.columns, generator.slices) = (6, 4400, 2)
        generator.pixelSpacing = (row: 0.1, column: 0.1)
        let source = try GeneratedSource(generator)
        let images = try SourceImages(volume: source.volume, series: source.series)
        // A comb on the first slice: a bar along row 0 with a tooth on every other column.
        var values = [UInt8](repeating: 0, count: 6 * 4400 * 2)
        for c in 0..<4400 { values[c] = 1 }
        for r in 1..<5 { for c in stride(from: 0, to: 4400, by: 2) { values[r * 4400 + c] = 1 } }
        let labels = try LabelMap(source.labelVolume(values), on: images.geometry)
        let result = try encoder(Manifests.segmentation()).encodeSegmentation(
            labels, source: images, outputs: [.presentationState], into: source.directory.file("out"))
        let gsps = try #require(result.objects.first { $0.kind == .presentationState })
        let check = try ExternalTool.run("dcmpschk", [gsps.path])
        #expect(check.status == 0, "\(check.output)")
        let counts = try ExternalTool.run("dcmdump", ["+P", "0070,0021", gsps.path]).output
            .split(separator: "\n").compactMap { $0.split(separator: " ").dropFirst(2).first.flatMap { Int($0) } }
        #expect(counts.count >= 2 && counts.allSatisfy { $0 <= 8191 }, "\(counts)")
    }

    // MARK: - Secondary Capture

    /// Each overlay is the windowed source slice, with every segment's outline pixels in its colour
    /// and nothing else changed outside the text boxes; the file holds exactly those pixels, on the
    /// source slice's plane, referencing it; one summary page ends the series.
    @Test(arguments: [SourceKind.axialCT, .doubleObliqueMR, .nonSquarePixels, .reversedSlices])
    func overlaysAreTheWindowedSourceWithOutlines(_ kind: SourceKind) throws {
        let encoder = try encoder(Manifests.segmentation())
        // Three times the usual pixels (same field of view), so the legend leaves outlines to check.
        var generator = kind.generator
        generator.rows *= 3
        generator.columns *= 3
        generator.pixelSpacing = (generator.pixelSpacing.row / 3, generator.pixelSpacing.column / 3)
        let e = try Encoded(generator, outputs: [.secondaryCapture], encoder: encoder)
        let sc = e.objects(.secondaryCapture)
        let g = e.labels.geometry
        let plane = g.size.x * g.size.y
        let withLabels = (0..<g.size.z).filter { k in
            e.labels.values[(k * plane)..<((k + 1) * plane)].contains { $0 != 0 }
        }
        try #require(sc.count == withLabels.count + 1)
        #expect(Set(sc.map(\.seriesInstanceUID)).count == 1 && sc[0].seriesNumber == 904)
        for object in sc { #expect(try ReadBack.dciodvfyErrors(object.path) == [], "\(object.path)") }

        let pixelsFile = e.source.directory.file("sc-pixels.bin")
        let read = try VenvPython.run(script: "sc_readback.py", [pixelsFile] + sc.map(\.path))
        try #require(read.status == 0, "\(read.output)")
        struct Image: Decodable {
            var rows: Int
            var columns: Int
            var position: [Double]?
            var orientation: [Double]?
            var spacing: [Double]?
            var source: String?
            var burned_in: String?
            var photometric: String
        }
        let described = try read.output.split(separator: "\n").filter { $0.hasPrefix("{") }.map {
            try JSONDecoder().decode(Image.self, from: Data($0.utf8))
        }
        try #require(described.count == sc.count)
        let bytes = [UInt8](try Data(contentsOf: URL(fileURLWithPath: pixelsFile)))
        let renderer = try OverlayRenderer(
            views: try Self.views(e, encoder: encoder), window: encoder.displayWindow(source: e.images),
            source: e.images,
            fillOpacity: 0, fontPath: OverlayFont.defaultPath)
        let window = encoder.displayWindow(source: e.images)
        var offset = 0
        for (n, k) in withLabels.enumerated() {
            let image = described[n]
            let frame = e.images.grid.frames[k]
            #expect(image.source == frame.sopInstanceUID && image.burned_in == "YES" && image.photometric == "RGB")
            let position = try #require(image.position)
            #expect(
                zip(position, [frame.position.x, frame.position.y, frame.position.z]).allSatisfy { abs($0 - $1) < 1e-4 }
            )
            let r = e.images.grid.rowDirection, c = e.images.grid.columnDirection
            #expect(
                zip(try #require(image.orientation), [r.x, r.y, r.z, c.x, c.y, c.z]).allSatisfy { abs($0 - $1) < 1e-6 })
            #expect(image.spacing == [e.images.grid.pixelSpacing.row, e.images.grid.pixelSpacing.column])
            let count = image.rows * image.columns * 3
            let written = Array(bytes[offset..<(offset + count)])
            offset += count

            let canvas = renderer.render(slice: k)
            #expect(written == canvas.image.pixels, "slice \(k): the file holds other pixels than were drawn")
            // Independently of the renderer: outline pixels in the segment's colour, all others
            // the source through the window (PS3.3 C.11.2.1.2.1), except under text.
            let (rows, columns) = (g.size.y, g.size.x)
            var outlines = 0
            for row in 0..<rows {
                for column in 0..<columns
                where !canvas.textBoxes.contains(where: { $0.contains(row: row, column: column) }) {
                    let p = row * columns + column
                    let value = e.labels.values[k * plane + p]
                    let pixel = SIMD3(written[3 * p], written[3 * p + 1], written[3 * p + 2])
                    func label(_ rr: Int, _ cc: Int) -> UInt16? {
                        (0..<rows).contains(rr) && (0..<columns).contains(cc)
                            ? e.labels.values[k * plane + rr * columns + cc] : nil
                    }
                    let around: [UInt16?] = [
                        label(row - 1, column), label(row + 1, column), label(row, column - 1), label(row, column + 1)
                    ]
                    let onOutline = value != 0 && around.contains(where: { $0 != value })
                    if onOutline {
                        outlines += 1
                        let color = try #require(Self.color(of: value))
                        #expect(
                            pixel == color,
                            "slice \(k) (\(row), \(column)): \(pixel) is not the outline colour \(color)")
                    } else if value == 0 {
                        let gray = Self.windowed(e.source.volume.voxels[k * plane + p], window)
                        #expect(
                            pixel == SIMD3(repeating: gray),
                            "slice \(k) (\(row), \(column)): \(pixel), windowed \(gray)")
                    }
                }
            }
            #expect(outlines > 0)
        }
        let summary = try #require(described.last)
        #expect(summary.position == nil && summary.source == nil && summary.burned_in == "YES")
    }

    /// A translucent fill mixes the segment's colour into its inside; the outline stays the colour
    /// itself and the outside stays the source.
    @Test func fillBlendsTheInsideOnly() {
        var canvas = OverlayCanvas(image: RGBImage(rows: 6, columns: 6, pixels: [UInt8](repeating: 100, count: 108)))
        let inside = Set([7, 8, 9, 10, 13, 14, 15, 16, 19, 20, 21, 22, 25, 26, 27, 28]) // rows 1–4, columns 1–4
        canvas.paint(mask: { inside.contains($0) }, color: SIMD3(200, 0, 0), fillOpacity: 0.5)
        #expect(canvas.image[0, 0] == SIMD3(100, 100, 100))
        #expect(canvas.image[1, 1] == SIMD3(200, 0, 0))
        #expect(canvas.image[2, 2] == SIMD3(150, 50, 50))
    }

    /// The linear window of PS3.3 C.11.2.1.2.1 onto 0…255, written out here as the standard gives it.
    static func windowed(_ value: Float, _ w: DisplayWindowValues) -> UInt8 {
        let x = Double(value), c = w.center, width = w.width
        if x <= c - 0.5 - (width - 1) / 2 { return 0 }
        if x > c - 0.5 + (width - 1) / 2 { return 255 }
        return UInt8(((x - (c - 0.5)) / (width - 1) + 0.5) * 255 + 0.5)
    }

    /// The manifest colour of a phantom label value (red when the manifest gives none).
    static func color(of value: UInt16) -> SIMD3<UInt8>? {
        guard let label = Manifests.phantomLabels.first(where: { UInt16($0["value"] as! Int) == value }) else {
            return nil
        }
        let rgb = (label["color"] as? [Int]) ?? [255, 0, 0]
        return SIMD3(UInt8(rgb[0]), UInt8(rgb[1]), UInt8(rgb[2]))
    }

    /// The views the encoder drew, rebuilt for the renderer.
    static func views(_ e: Encoded, encoder: ResultEncoder) throws -> ResultViews {
        let mapping = try SegmentMapping(manifest: encoder.manifest, uids: UIDGenerator())
        var views = ResultViews()
        views.labels = e.labels
        views.outlines = SegmentOutlines(labels: e.labels, values: mapping.labelValues.map { UInt16($0) })
        views.segments = mapping.segments.enumerated().compactMap { index, segment in
            let value = UInt16(mapping.labelValues[index])
            guard e.labels.values.contains(value) else { return nil }
            return ResultViews.Segment(name: segment.label, color: color(of: value)!, labelIndex: index, millilitres: 0)
        }
        return views
    }

    // MARK: - Key Object Selection

    /// "Of Interest" lists the source image with each segment's largest cross-section and every
    /// object of the result; dciodvfy clean.
    @Test(arguments: [SourceKind.axialCT, .doubleObliqueMR, .nonSquarePixels, .reversedSlices])
    func keyObjectsListKeySlicesAndTheResult(_ kind: SourceKind) throws {
        let e = try Encoded(
            kind, outputs: [.presentationState, .keyObjects], encoder: encoder(Manifests.segmentation()))
        try #require(e.result.objects.map(\.kind) == [.segmentation, .report, .presentationState, .keyObjects])
        let ko = e.result.objects[3]
        #expect(ko.seriesNumber == 905 && ko.sopClassUID == KeyObjectWriter.sopClassUID)
        #expect(try ReadBack.dciodvfyErrors(ko.path) == [])
        let tree = try ExternalTool.run("dsrdump", [ko.path]).output
        #expect(tree.contains("Of Interest"), "\(tree)")
        let dump = try ExternalTool.run("dcmdump", ["+P", "0008,1155", ko.path]).output
        let g = e.labels.geometry
        let plane = g.size.x * g.size.y
        for value in Set(e.labels.values).subtracting([0]) {
            let areas = (0..<g.size.z).map { k in
                e.labels.values[(k * plane)..<((k + 1) * plane)].filter { $0 == value }.count
            }
            let k = try #require(areas.firstIndex(of: areas.max()!))
            #expect(dump.contains(e.images.grid.frames[k].sopInstanceUID), "label \(value): slice \(k) is not listed")
        }
        for object in e.result.objects.dropLast() { #expect(dump.contains(object.sopInstanceUID), "\(object.kind)") }
    }

    /// An enhanced multi-frame source: the RT Structure Set and presentation state, which reference
    /// whole images, are left out with the reason; SEG, SR, overlays and key objects are written.
    @Test func multiFrameSourceGetsTheViewsItCanHave() throws {
        let e = try Encoded(
            .enhancedCT, outputs: Set(EncodedObject.Kind.allCases), encoder: encoder(Manifests.segmentation()))
        #expect(Set(e.result.objects.map(\.kind)) == [.segmentation, .report, .secondaryCapture, .keyObjects])
        #expect(e.result.notWritten.count == 2)
        #expect(e.result.notWritten.allSatisfy { $0.contains("multi-frame") }, "\(e.result.notWritten)")
        for object in e.result.objects where object.kind != .segmentation {
            #expect(try ReadBack.dciodvfyErrors(object.path) == [], "\(object.kind)")
        }
    }

    // MARK: - Reports without segments

    /// Landmarks and a classification get a presentation state (points, distance, text), overlays
    /// (the landmark slices and a summary) and key objects, all dciodvfy clean; an RT Structure Set
    /// needs segments and is not written.
    @Test func reportsGetViewsToo() throws {
        let source = try GeneratedSource(.axialCT)
        let images = try SourceImages(volume: source.volume, series: source.series)
        let all = Set(EncodedObject.Kind.allCases)
        let landmarks = try encoder(Manifests.landmarks()).encodeLandmarks(
            [
                images.geometry.patientPoint(ofIndex: SIMD3(10, 12, 3)),
                images.geometry.patientPoint(ofIndex: SIMD3(30, 20, 8))
            ],
            source: images, outputs: all, into: source.directory.file("landmarks"))
        #expect(Set(landmarks.objects.map(\.kind)) == [.report, .presentationState, .secondaryCapture, .keyObjects])
        #expect(landmarks.objects.filter { $0.kind == .secondaryCapture }.count == 3)
        let classification = try encoder(Manifests.classification()).encodeClassification(
            probability: 0.9, source: images, outputs: all, into: source.directory.file("classification"))
        #expect(
            Set(classification.objects.map(\.kind)) == [.report, .presentationState, .secondaryCapture, .keyObjects])
        for object in landmarks.objects + classification.objects {
            #expect(try ReadBack.dciodvfyErrors(object.path) == [], "\(object.kind) \(object.path)")
        }
        let gsps = try #require(landmarks.objects.first { $0.kind == .presentationState })
        let check = try ExternalTool.run("dcmpschk", [gsps.path])
        #expect(check.status == 0, "\(check.output)")
        let texts = try ExternalTool.run("dcmdump", ["+P", "0070,0006", gsps.path]).output
        #expect(texts.contains("Lesion to vertebra"), "\(texts)")
    }
}
