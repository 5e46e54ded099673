import DICOMObjects

/// An RGB image being annotated: the windowed source slice, segment outlines and fills, and
/// text on dark boxes. It remembers every box it put text in, so that what is left is the
/// source as windowed (the Secondary Capture acceptance check in docs/results.md).
struct OverlayCanvas {
    /// A rectangle of pixels: columns x..<x+width, rows y..<y+height.
    struct Box: Sendable, Equatable {
        var x: Int, y: Int, width: Int, height: Int

        func contains(row: Int, column: Int) -> Bool {
            (x..<(x + width)).contains(column) && (y..<(y + height)).contains(row)
        }
    }

    var image: RGBImage
    private(set) var textBoxes: [Box] = []

    init(image: RGBImage) { self.image = image }

    /// The grey image of `values` (rows × columns, row by row) through `window`.
    init(gray values: UnsafeBufferPointer<Float>, rows: Int, columns: Int, window: DisplayWindowValues) {
        var pixels = [UInt8](repeating: 0, count: rows * columns * 3)
        for p in 0..<(rows * columns) {
            let v = window.display(values[p])
            pixels[3 * p] = v
            pixels[3 * p + 1] = v
            pixels[3 * p + 2] = v
        }
        image = RGBImage(rows: rows, columns: columns, pixels: pixels)
    }

    /// Paints the pixels of `mask` (rows × columns) with `color` at `opacity` (0…1), and the
    /// pixels on its outline — mask pixels with a 4-neighbour outside it or on the image's edge —
    /// in `color` itself.
    mutating func paint(mask: (Int) -> Bool, color: SIMD3<UInt8>, fillOpacity: Double) {
        let (rows, columns) = (image.rows, image.columns)
        let alpha = min(1, max(0, fillOpacity))
        let rgb = SIMD3<Double>(Double(color.x), Double(color.y), Double(color.z))
        for r in 0..<rows {
            for c in 0..<columns where mask(r * columns + c) {
                let onOutline =
                    r == 0 || c == 0 || r == rows - 1 || c == columns - 1 || !mask((r - 1) * columns + c)
                    || !mask((r + 1) * columns + c) || !mask(r * columns + c - 1) || !mask(r * columns + c + 1)
                if onOutline {
                    image[r, c] = color
                } else if alpha > 0 {
                    let old = image[r, c]
                    let mixed =
                        SIMD3<Double>(Double(old.x), Double(old.y), Double(old.z)) * (1 - alpha) + rgb * alpha
                    image[r, c] = SIMD3(
                        UInt8(mixed.x.rounded()), UInt8(mixed.y.rounded()), UInt8(mixed.z.rounded()))
                }
            }
        }
    }

    /// The width of the box ``text(_:x:y:color:font:swatch:)`` draws.
    func textWidth(_ text: String, font: OverlayFont, swatch: Bool = false) -> Int {
        let pad = 2
        return pad + (swatch ? font.ascent + pad : 0) + font.width(of: text) + pad
    }

    /// Writes `text` in `color` on a black box whose top left corner is (x, y), clipped to the
    /// image; returns the box (empty when it lies outside).
    @discardableResult
    mutating func text(
        _ text: String, x: Int, y: Int, color: SIMD3<UInt8>, font: OverlayFont, swatch: SIMD3<UInt8>? = nil
    ) -> Box {
        let pad = 2
        let swatchSize = swatch == nil ? 0 : font.ascent
        let textX = x + pad + (swatch == nil ? 0 : swatchSize + pad)
        let full = Box(
            x: x, y: y, width: textX - x + font.width(of: text) + pad, height: font.ascent + font.descent + 2 * pad)
        let box = clipped(full)
        guard box.width > 0, box.height > 0 else { return box }
        // The text's coverage in the box's frame, then black blended to `color` by coverage.
        var coverage = [UInt8](repeating: 0, count: box.width * box.height)
        font.draw(
            text, x: textX - box.x, baseline: y + pad + font.ascent - box.y, into: &coverage, width: box.width,
            height: box.height)
        for r in 0..<box.height {
            for c in 0..<box.width {
                let a = UInt16(coverage[r * box.width + c])
                image[box.y + r, box.x + c] = SIMD3(
                    UInt8(UInt16(color.x) * a / 255), UInt8(UInt16(color.y) * a / 255), UInt8(UInt16(color.z) * a / 255)
                )
            }
        }
        if let swatch {
            for r in (y + pad)..<(y + pad + swatchSize) {
                for c in (x + pad)..<(x + pad + swatchSize) where box.contains(row: r, column: c) {
                    image[r, c] = swatch
                }
            }
        }
        textBoxes.append(box)
        return box
    }

    private func clipped(_ b: Box) -> Box {
        let x0 = max(0, b.x), y0 = max(0, b.y)
        let x1 = min(image.columns, b.x + b.width), y1 = min(image.rows, b.y + b.height)
        return Box(x: x0, y: y0, width: max(0, x1 - x0), height: max(0, y1 - y0))
    }
}
