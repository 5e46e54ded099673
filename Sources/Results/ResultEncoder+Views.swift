import DICOM
import DICOMObjects
import Foundation
import ModelPackage
import Volume

extension ResultEncoder {
    /// The window results are drawn with: the manifest's `display_window`, else the modality's
    /// default (CT soft tissue W400/L40), else the 1st to 99th percentile of the source's values.
    func displayWindow(source: SourceImages) -> DisplayWindowValues {
        if let w = manifest.displayWindow {
            return DisplayWindowValues(center: w.center, width: w.width, explanation: "MODEL")
        }
        if source.modality == "CT" { return DisplayWindowValues(center: 40, width: 400, explanation: "SOFT TISSUE") }
        guard let voxels = source.volume?.voxels, !voxels.isEmpty else {
            return DisplayWindowValues(center: 500, width: 1000, explanation: "DEFAULT")
        }
        // About 100 000 evenly spaced voxels are plenty for two percentiles, even of a 300 × 512² volume.
        let sample = stride(from: 0, to: voxels.count, by: max(1, voxels.count / 100_000)).map { voxels[$0] }.sorted()
        let lo = Double(sample[sample.count / 100]), hi = Double(sample[sample.count * 99 / 100])
        return DisplayWindowValues(center: (lo + hi) / 2, width: max(1, hi - lo), explanation: "AUTO")
    }

    /// Writes the kinds in `outputs` other than SEG and SR that `views` has content for, after
    /// `produced` (which the Key Object Selection references too). Secondary Capture images are
    /// one object each.
    func writeViews(
        _ views: ResultViews, source: SourceImages, numbers: SeriesNumbers, version: Int,
        outputs: Set<EncodedObject.Kind>, produced: [EncodedObject], into directory: String
    ) throws(ResultsError) -> (objects: [EncodedObject], notWritten: [String], timings: [String: Double]) {
        var outputs = outputs
        var notWritten: [String] = []
        // Contours and graphics reference whole images; frames of an enhanced multi-frame source
        // would need frame references these writers do not make. The SEG, SR, overlays and key
        // objects still carry the result.
        if let frame = source.grid.frames.first(where: { $0.frameNumber != nil }) {
            for kind in [EncodedObject.Kind.structureSet, .presentationState] where outputs.contains(kind) {
                outputs.remove(kind)
                notWritten.append(
                    "\(kind.rawValue) not written: the source is a multi-frame instance (\(frame.sopInstanceUID)), "
                        + "which it cannot reference frame by frame")
            }
        }
        var written: [EncodedObject] = []
        var timings: [String: Double] = [:]
        var clock = ContinuousClock.now
        func lap(_ kind: EncodedObject.Kind) {
            timings[kind.rawValue] = seconds(since: clock)
            clock = .now
        }
        var finished = false
        defer {
            if !finished { for object in written { try? FileManager.default.removeItem(atPath: object.path) } }
        }
        if outputs.contains(.structureSet), let labels = views.labels, let outlines = views.outlines,
            !views.segments.isEmpty
        {
            written.append(
                try writeStructureSet(
                    views, labels: labels, outlines: outlines, source: source,
                    seriesNumber: numbers[.structureSet], version: version, into: directory))
            lap(.structureSet)
        }
        clock = .now
        let window = displayWindow(source: source)
        if outputs.contains(.presentationState) {
            written.append(
                try writePresentationState(
                    views, window: window, source: source, seriesNumber: numbers[.presentationState], version: version,
                    into: directory))
            lap(.presentationState)
        }
        if outputs.contains(.secondaryCapture) {
            written += try writeSecondaryCaptures(
                views, window: window, source: source, seriesNumber: numbers[.secondaryCapture], version: version,
                into: directory)
            lap(.secondaryCapture)
        }
        if outputs.contains(.keyObjects) {
            written.append(
                try writeKeyObjects(
                    views, source: source, results: produced + written, seriesNumber: numbers[.keyObjects],
                    version: version, into: directory))
            lap(.keyObjects)
        }
        finished = true
        return (written, notWritten, timings)
    }

    // MARK: - RT Structure Set

    /// One ROI per segment with a voxel, named and coloured as the segment, RT ROI Interpreted
    /// Type from the manifest's label (ORGAN when it names none), contours from
    /// ``StructureSetContours``.
    func writeStructureSet(
        _ views: ResultViews, labels: LabelMap, outlines: SegmentOutlines, source: SourceImages, seriesNumber: Int,
        version: Int, into directory: String
    ) throws(ResultsError) -> EncodedObject {
        guard let frameOfReference = source.frameOfReferenceUID else {
            throw ResultsError(
                .sourceNotFound, "the source has no Frame of Reference UID, which an RT Structure Set needs",
                tag: .frameOfReferenceUID, series: source.seriesInstanceUID)
        }
        let contours = StructureSetContours.make(outlines: outlines, geometry: labels.geometry)
        do throws(DICOMError) {
            let rois = views.segments.map { segment in
                StructureSetROI(
                    name: segment.name, color: segment.color,
                    interpretedType: manifest.labels?[segment.labelIndex].rtRoiInterpretedType ?? "ORGAN",
                    algorithm: String("\(algorithm.name) \(algorithm.version)".prefix(64)))
            }
            let writer = try StructureSetWriter(
                grid: source.grid, frameOfReferenceUID: frameOfReference, rois: rois,
                contours: views.segments.enumerated().flatMap { index, segment in
                    contours[segment.labelIndex].contours.map {
                        StructureSetContour(roi: index, frame: $0.frameIndex, points: $0.points)
                    }
                },
                series: SeriesIdentity(
                    uids: uids, seriesNumber: seriesNumber,
                    seriesDescription: configuration.structureSetDescription
                        ?? seriesDescription("structures", version: version)),
                label: "AI_STRUCTURES", equipment: configuration.equipment)
            let path = directory + "/RTSTRUCT-\(writer.series.sopInstanceUID).dcm"
            try writer.write(to: path)
            return EncodedObject(
                kind: .structureSet, path: path, sopClassUID: StructureSetWriter.sopClassUID, series: writer.series)
        } catch {
            throw ResultsError(error, writing: "the RT structure set")
        }
    }

    // MARK: - Grayscale Softcopy Presentation State

    /// One layer per segment (its outlines as closed polylines on each source image, its name on
    /// the image of its largest cross-section), a layer for landmarks and distances, and one for
    /// text (the model and the classification on the first image); the display window as
    /// Softcopy VOI LUT.
    func writePresentationState(
        _ views: ResultViews, window: DisplayWindowValues, source: SourceImages, seriesNumber: Int, version: Int,
        into directory: String
    ) throws(ResultsError) -> EncodedObject {
        let grid = source.grid
        var layers: [PresentationLayer] = []
        var graphics: [PresentationGraphic] = []
        var texts: [PresentationText] = []
        var usedNames = Set<String>()
        func layerName(_ label: String) -> String {
            var name = PresentationLayer.layerName(label)
            var n = 2
            while !usedNames.insert(name).inserted {
                let suffix = "_\(n)"
                name = String(PresentationLayer.layerName(label).prefix(16 - suffix.count)) + suffix
                n += 1
            }
            return name
        }
        /// A text box of `text` with its top left corner at `corner`, kept on the image.
        func box(_ text: String, at corner: SIMD2<Float>) -> (SIMD2<Float>, SIMD2<Float>) {
            let size = SIMD2<Float>(Float(max(8, text.count * 7)), 14)
            let limit = SIMD2<Float>(Float(grid.columns), Float(grid.rows))
            let topLeft = corner.clamped(lowerBound: .zero, upperBound: pointwiseMax(.zero, limit - size))
            return (topLeft, pointwiseMin(topLeft + size, limit))
        }

        if let outlines = views.outlines {
            for segment in views.segments {
                let layer = layers.count
                let name = Self.ascii(segment.name)
                layers.append(PresentationLayer(name: layerName(name), description: name, color: segment.color))
                for (frame, contour) in outlines.slices[segment.labelIndex] {
                    var points = contour.points.map { SIMD2<Float>(Float($0.x), Float($0.y)) }
                    points.append(points[0])
                    // Graphic Data must fit one Explicit VR value (8191 points); a longer outline
                    // is drawn as consecutive pieces sharing their end points.
                    for start in stride(from: 0, to: points.count - 1, by: Self.maximumGraphicPoints - 1) {
                        let piece = Array(points[start..<min(points.count, start + Self.maximumGraphicPoints)])
                        graphics.append(PresentationGraphic(layer: layer, frame: frame, shape: .polyline(piece)))
                    }
                }
                if let k = outlines.largestSlice(of: segment.labelIndex),
                    let top = outlines.slices[segment.labelIndex].first(where: { $0.frame == k })?.contour.points.first
                {
                    let anchor = SIMD2<Float>(Float(top.x), Float(top.y))
                    let (tl, br) = box(name, at: anchor - SIMD2(0, 16))
                    texts.append(PresentationText(layer: layer, frame: k, text: name, topLeft: tl, bottomRight: br))
                }
            }
        }
        if !views.landmarks.isEmpty {
            let layer = layers.count
            layers.append(
                PresentationLayer(
                    name: layerName("LANDMARKS"), description: "Landmarks", color: ResultViews.landmarkColor))
            let placed = views.landmarks.map { place($0.position, on: source) }
            for (p, at) in zip(views.landmarks, placed) {
                graphics.append(PresentationGraphic(layer: layer, frame: at.frame, shape: .point(at.pixel)))
                let name = Self.ascii(p.name)
                let (tl, br) = box(name, at: at.pixel + SIMD2(4, 4))
                texts.append(
                    PresentationText(
                        layer: layer, frame: at.frame, text: name, topLeft: tl, bottomRight: br, anchor: at.pixel))
            }
            // A distance is drawn on its first landmark's image, to the second's projection onto it.
            for d in views.distances {
                let from = placed[d.from], to = place(views.landmarks[d.to].position, on: source, frame: from.frame)
                graphics.append(
                    PresentationGraphic(layer: layer, frame: from.frame, shape: .polyline([from.pixel, to.pixel])))
                let label = Self.ascii("\(d.name): \(ResultViews.format(d.millimetres, digits: 1)) mm")
                let (tl, br) = box(label, at: (from.pixel + to.pixel) / 2 + SIMD2(4, -16))
                texts.append(
                    PresentationText(layer: layer, frame: from.frame, text: label, topLeft: tl, bottomRight: br))
            }
        }
        let textLayer = layers.count
        layers.append(
            PresentationLayer(
                name: layerName("AI RESULT"), description: ResultViews.cautionASCII, color: ResultViews.textColor))
        var line: Float = 2
        for text
            in ([ResultViews.cautionASCII, "\(algorithm.name) \(algorithm.version)"]
            + [views.classification].compactMap({ $0 })).map(Self.ascii)
        {
            let (tl, br) = box(text, at: SIMD2(2, line))
            texts.append(PresentationText(layer: textLayer, frame: 0, text: text, topLeft: tl, bottomRight: br))
            line += 16
        }
        do throws(DICOMError) {
            let writer = try PresentationStateWriter(
                grid: grid, seriesInstanceUID: source.seriesInstanceUID, window: window, layers: layers,
                graphics: graphics, texts: texts,
                series: SeriesIdentity(
                    uids: uids, seriesNumber: seriesNumber,
                    seriesDescription: seriesDescription("presentation", version: version)),
                label: "AI_RESULT", contentDescription: String(manifest.name.prefix(64)),
                equipment: configuration.equipment)
            let path = directory + "/GSPS-\(writer.series.sopInstanceUID).dcm"
            try writer.write(to: path)
            return EncodedObject(
                kind: .presentationState, path: path, sopClassUID: PresentationStateWriter.sopClassUID,
                series: writer.series)
        } catch {
            throw ResultsError(error, writing: "the presentation state")
        }
    }

    /// Points one presentation state graphic may hold (its Graphic Data is one Explicit VR FL
    /// value: at most 65534 bytes).
    static let maximumGraphicPoints = 8191

    /// Text a presentation state can carry in any source's character set: ASCII, other characters
    /// as `?` (the source may declare no Specific Character Set).
    static func ascii(_ text: String) -> String {
        String(String.UnicodeScalarView(text.unicodeScalars.map { $0.isASCII ? $0 : "?" }))
    }

    /// The source image nearest to a patient position and the position's PIXEL coordinates on it
    /// (pixel centre of index i at i + 0.5); `frame` forces the image (a projection onto it).
    func place(
        _ position: SIMD3<Double>, on source: SourceImages, frame: Int? = nil
    ) -> (frame: Int, pixel: SIMD2<Float>) {
        let index = source.geometry.continuousIndex(ofPatientPoint: position)
        let k = frame ?? min(source.grid.sliceCount - 1, max(0, Int(index.z.rounded())))
        return (k, SIMD2(Float(index.x + 0.5), Float(index.y + 0.5)))
    }

    // MARK: - Secondary Capture

    /// One overlay image per source slice with a segment or landmark (every slice when the
    /// configuration says so), then a summary page with the report's content.
    func writeSecondaryCaptures(
        _ views: ResultViews, window: DisplayWindowValues, source: SourceImages, seriesNumber: Int, version: Int,
        into directory: String
    ) throws(ResultsError) -> [EncodedObject] {
        let renderer = try OverlayRenderer(
            views: views, window: window, source: source, fillOpacity: configuration.overlayFillOpacity,
            fontPath: configuration.overlayFontPath)
        let slices = configuration.overlayAllSlices ? Array(0..<source.grid.sliceCount) : renderer.slicesWithFindings
        let seriesUID = uids.make()
        var objects: [EncodedObject] = []
        let description = seriesDescription("overlay", version: version)
        do throws(DICOMError) {
            for (n, k) in slices.enumerated() {
                let canvas = renderer.render(slice: k)
                let series = try SeriesIdentity(
                    seriesInstanceUID: seriesUID, sopInstanceUID: uids.make(), seriesNumber: seriesNumber,
                    seriesDescription: description, instanceNumber: n + 1)
                let writer = try SecondaryCaptureWriter(
                    image: canvas.image, plane: renderer.plane(of: k), referencePath: source.grid.referencePath,
                    derivation: "Source image with the outlines of \(algorithm.name) \(algorithm.version)",
                    series: series, equipment: configuration.equipment)
                objects.append(try write(writer, into: directory))
            }
            let summary = renderer.summary(lines: views.summaryLines(model: "\(algorithm.name) \(algorithm.version)"))
            let series = try SeriesIdentity(
                seriesInstanceUID: seriesUID, sopInstanceUID: uids.make(), seriesNumber: seriesNumber,
                seriesDescription: description, instanceNumber: slices.count + 1)
            let writer = try SecondaryCaptureWriter(
                image: summary.image, plane: nil, referencePath: source.grid.referencePath,
                derivation: "Summary of the structured report of \(algorithm.name) \(algorithm.version)",
                series: series,
                equipment: configuration.equipment)
            objects.append(try write(writer, into: directory))
        } catch {
            for object in objects { try? FileManager.default.removeItem(atPath: object.path) }
            throw ResultsError(error, writing: "the overlay images")
        }
        return objects
    }

    private func write(_ writer: SecondaryCaptureWriter, into directory: String) throws(DICOMError) -> EncodedObject {
        let path = directory + "/SC-\(writer.series.sopInstanceUID).dcm"
        try writer.write(to: path)
        return EncodedObject(
            kind: .secondaryCapture, path: path, sopClassUID: SecondaryCaptureWriter.sopClassUID, series: writer.series)
    }

    // MARK: - Key Object Selection

    /// "Of Interest": the source image with the largest cross-section of each segment, each
    /// landmark's image, then every object of the result.
    func writeKeyObjects(
        _ views: ResultViews, source: SourceImages, results: [EncodedObject], seriesNumber: Int, version: Int,
        into directory: String
    ) throws(ResultsError) -> EncodedObject {
        var frames: [Int] = []
        var said: [String] = []
        if let outlines = views.outlines {
            for segment in views.segments {
                guard let k = outlines.largestSlice(of: segment.labelIndex) else { continue }
                frames.append(k)
                said.append("\(segment.name): largest cross-section on image \(k + 1)")
            }
        }
        for p in views.landmarks {
            let k = place(p.position, on: source).frame
            frames.append(k)
            said.append("\(p.name): image \(k + 1)")
        }
        var references: [KeyObjectReference] = []
        var seen = Set<String>()
        for k in frames {
            let f = source.grid.frames[k]
            guard seen.insert(f.sopInstanceUID).inserted else { continue }
            references.append(
                KeyObjectReference(
                    seriesInstanceUID: source.seriesInstanceUID, sopClassUID: f.sopClassUID,
                    sopInstanceUID: f.sopInstanceUID, frameNumber: f.frameNumber))
        }
        references += results.map {
            KeyObjectReference(
                seriesInstanceUID: $0.seriesInstanceUID, sopClassUID: $0.sopClassUID, sopInstanceUID: $0.sopInstanceUID)
        }
        let text = ([ResultViews.caution + ": \(algorithm.name) \(algorithm.version)"] + said).joined(separator: "\n")
        do throws(DICOMError) {
            let writer = try KeyObjectWriter(
                referencePath: source.grid.referencePath, references: references,
                description: String(text.prefix(1024)),
                series: SeriesIdentity(
                    uids: uids, seriesNumber: seriesNumber,
                    seriesDescription: seriesDescription("key images", version: version)),
                equipment: configuration.equipment)
            let path = directory + "/KO-\(writer.series.sopInstanceUID).dcm"
            try writer.write(to: path)
            return EncodedObject(
                kind: .keyObjects, path: path, sopClassUID: KeyObjectWriter.sopClassUID, series: writer.series)
        } catch {
            throw ResultsError(error, writing: "the key object selection")
        }
    }
}
