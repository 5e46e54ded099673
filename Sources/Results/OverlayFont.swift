import CText

/// A FreeType font at one pixel size (Sources/CText), for the text burned into Secondary Capture
/// overlays. FreeType objects are not thread-safe, so each rendering opens its own.
final class OverlayFont {
    /// DejaVu Sans from Debian's fonts-dejavu-core (Scripts/bootstrap installs it).
    static let defaultPath = "/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf"

    private let handle: OpaquePointer
    /// Pixels above and below the baseline, and between baselines.
    let ascent: Int
    let descent: Int
    let lineHeight: Int

    /// - Throws: `.encoding` naming the file when FreeType cannot open it.
    init(path: String = OverlayFont.defaultPath, pixelHeight: Int) throws(ResultsError) {
        var message = [CChar](repeating: 0, count: 256)
        guard let handle = mn_font_open(path, UInt32(max(6, pixelHeight)), &message, message.count) else {
            let reason = message.withUnsafeBufferPointer { String(cString: $0.baseAddress!) }
            throw ResultsError(.encoding, "\(reason); the overlay text needs this font (Debian fonts-dejavu-core)")
        }
        self.handle = handle
        var a: Int32 = 0, d: Int32 = 0, h: Int32 = 0
        mn_font_metrics(handle, &a, &d, &h)
        (ascent, descent, lineHeight) = (Int(a), Int(d), Int(max(h, a + d)))
    }

    deinit { mn_font_free(handle) }

    /// The advance width of `text` in pixels.
    func width(of text: String) -> Int {
        let scalars = text.unicodeScalars.map(\.value)
        return Int(mn_font_measure(handle, scalars, scalars.count))
    }

    /// Draws `text` with its baseline from (x, baseline) into an 8-bit coverage mask.
    func draw(_ text: String, x: Int, baseline: Int, into coverage: inout [UInt8], width: Int, height: Int) {
        let scalars = text.unicodeScalars.map(\.value)
        _ = coverage.withUnsafeMutableBufferPointer { mask in
            mn_font_draw(
                handle, scalars, scalars.count, Int32(x), Int32(baseline), mask.baseAddress, Int32(width), Int32(height)
            )
        }
    }
}
