import DICOMObjects
import Volume

/// Draws the Secondary Capture overlays of a result (docs/results.md, Secondary Capture): each
/// source slice windowed, the segments' outlines (and optional translucent fill) in their
/// colours, landmarks as crosses, a legend of what the slice shows and the caution line; and a
/// summary page with the report's content. Text is rendered by FreeType (``OverlayFont``).
struct OverlayRenderer {
    let views: ResultViews
    let window: DisplayWindowValues
    let source: SourceImages
    let volume: Volume
    let fillOpacity: Double
    let font: OverlayFont
    let rows: Int
    let columns: Int

    /// - Throws: `.sourceNotFound` when the source has no pixel values (made from a layout);
    ///   `.encoding` when the font cannot be opened.
    init(
        views: ResultViews, window: DisplayWindowValues, source: SourceImages, fillOpacity: Double,
        fontPath: String
    ) throws(ResultsError) {
        guard let volume = source.volume else {
            throw ResultsError(
                .sourceNotFound, "overlay images need the source's pixel values, and only its layout was read",
                series: source.seriesInstanceUID)
        }
        self.views = views
        self.window = window
        self.source = source
        self.volume = volume
        self.fillOpacity = fillOpacity
        (rows, columns) = (source.grid.rows, source.grid.columns)
        // About 40 characters across the image: 12 px on 512 pixels, never below 7 px.
        font = try OverlayFont(path: fontPath, pixelHeight: max(7, min(rows, columns) / 40))
    }

    /// Images smaller than this (rows or columns) get no legend.
    static let smallestWithLegend = 128

    /// The slices that hold a segment voxel or a landmark, in order.
    var slicesWithFindings: [Int] {
        var slices = Set<Int>()
        if let outlines = views.outlines {
            for segment in views.segments {
                for (k, area) in outlines.areas[segment.labelIndex].enumerated() where area > 0 { slices.insert(k) }
            }
        }
        for p in views.landmarks { slices.insert(landmarkPixel(p.position).k) }
        return slices.sorted()
    }

    /// The plane of source slice k, copied onto its overlay.
    func plane(of k: Int) -> SecondaryCapturePlane? {
        guard let frameOfReference = source.frameOfReferenceUID else { return nil }
        let grid = source.grid
        return SecondaryCapturePlane(
            source: grid.frames[k], rowDirection: grid.rowDirection, columnDirection: grid.columnDirection,
            pixelSpacing: SIMD2(grid.pixelSpacing.row, grid.pixelSpacing.column), sliceThickness: grid.sliceThickness,
            frameOfReferenceUID: frameOfReference)
    }

    /// The overlay of source slice k.
    func render(slice k: Int) -> OverlayCanvas {
        let plane = rows * columns
        var canvas = volume.voxels.withUnsafeBufferPointer { voxels in
            OverlayCanvas(
                gray: UnsafeBufferPointer(rebasing: voxels[(k * plane)..<((k + 1) * plane)]), rows: rows,
                columns: columns, window: window)
        }
        var legend: [(String, SIMD3<UInt8>)] = []
        if let labels = views.labels, let outlines = views.outlines {
            labels.values.withUnsafeBufferPointer { values in
                for segment in views.segments where outlines.areas[segment.labelIndex][k] > 0 {
                    let value = outlines.values[segment.labelIndex]
                    let base = k * plane
                    canvas.paint(mask: { values[base + $0] == value }, color: segment.color, fillOpacity: fillOpacity)
                    legend.append((segment.name, segment.color))
                }
            }
        }
        for p in views.landmarks {
            let at = landmarkPixel(p.position)
            guard at.k == k else { continue }
            let arm = max(3, columns / 64)
            for d in -arm...arm {
                for (r, c) in [(at.j + d, at.i), (at.j, at.i + d)]
                where (0..<rows).contains(r) && (0..<columns).contains(c) {
                    canvas.image[r, c] = ResultViews.landmarkColor
                }
            }
            legend.append((p.name, ResultViews.landmarkColor))
        }
        canvas.text(ResultViews.caution, x: 0, y: 0, color: ResultViews.textColor, font: font)
        // Below 128 pixels a legend would hide most of the image; the summary page and the
        // presentation state still name every segment.
        guard min(rows, columns) >= Self.smallestWithLegend else { return canvas }
        // The legend runs left to right along the bottom edge, wrapping upwards, so it covers as
        // little of the image as the names allow.
        let lineHeight = font.ascent + font.descent + 4
        var lines: [[(String, SIMD3<UInt8>, Int)]] = [[]]
        var x = 0
        for (name, color) in legend {
            let width = canvas.textWidth(name, font: font, swatch: true)
            if x > 0 && x + width > columns {
                lines.append([])
                x = 0
            }
            lines[lines.count - 1].append((name, color, x))
            x += width + 2
        }
        for (n, line) in lines.enumerated() {
            for (name, color, x) in line {
                canvas.text(
                    name, x: x, y: rows - (lines.count - n) * lineHeight, color: ResultViews.textColor, font: font,
                    swatch: color)
            }
        }
        return canvas
    }

    /// A page of text: the caution line, then `lines`, white on black, as large as the source.
    func summary(lines: [String]) -> OverlayCanvas {
        var canvas = OverlayCanvas(image: RGBImage(rows: max(rows, 256), columns: max(columns, 256)))
        let lineHeight = font.ascent + font.descent + 4
        canvas.text(ResultViews.caution, x: 0, y: 0, color: SIMD3(255, 200, 0), font: font)
        for (n, line) in lines.enumerated() where !line.isEmpty {
            canvas.text(line, x: 0, y: (n + 2) * lineHeight, color: ResultViews.textColor, font: font)
        }
        return canvas
    }

    /// The voxel nearest to a patient position.
    func landmarkPixel(_ position: SIMD3<Double>) -> (i: Int, j: Int, k: Int) {
        let index = source.geometry.continuousIndex(ofPatientPoint: position)
        let size = source.geometry.size
        return (
            min(size.x - 1, max(0, Int(index.x.rounded()))), min(size.y - 1, max(0, Int(index.y.rounded()))),
            min(size.z - 1, max(0, Int(index.z.rounded())))
        )
    }
}
