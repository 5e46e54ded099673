import Foundation
import TestSupport
import Testing

@testable import Volume

/// `GridResize` is scikit-image's `resize` (what nnU-Net v1 and LFC resample with): the same
/// values, within float32 rounding, for every order, boundary and anti-aliasing the official
/// recipes use, checked against scikit-image itself.
@Suite struct GridResizeTests {
    /// A smooth volume with some sharp steps, so that edges, ringing and clipping all show.
    static func volume(_ size: SIMD3<Int>) -> [Float] {
        var out = [Float]()
        for k in 0..<size.z {
            for j in 0..<size.y {
                for i in 0..<size.x {
                    let smooth = 100 * sin(0.3 * Double(i)) + 40 * cos(0.5 * Double(j) + 0.2 * Double(k))
                    out.append(Float(smooth + ((i / 4 + j / 3 + k / 2) % 2 == 0 ? 300 : -200)))
                }
            }
        }
        return out
    }

    static func skimage(
        _ values: [Float], size: SIMD3<Int>, to target: SIMD3<Int>, order: Int, mode: String, antiAliasing: Bool
    ) throws -> [Float] {
        let dir = TemporaryDirectory("resize")
        try values.withUnsafeBufferPointer { try Data(buffer: $0).write(to: URL(fileURLWithPath: dir.file("in"))) }
        let arguments = [
            dir.file("in"), "\(size.z)", "\(size.y)", "\(size.x)", dir.file("out"), "\(target.z)", "\(target.y)",
            "\(target.x)", "\(order)", mode, antiAliasing ? "1" : "0"
        ]
        let result = try VenvPython.run(script: "skimage_resize.py", arguments)
        #expect(result.status == 0, "\(result.output)")
        let data = try Data(contentsOf: URL(fileURLWithPath: dir.file("out")))
        return data.withUnsafeBytes { Array($0.bindMemory(to: Float.self)) }
    }

    struct Case: Sendable, CustomTestStringConvertible {
        var order: GridResize.Order
        var boundary: GridResize.Boundary
        var antiAliasing: Bool
        var target: SIMD3<Int>
        var testDescription: String { "order \(order.rawValue) \(boundary) aa \(antiAliasing) → \(target)" }
    }

    static let size = SIMD3(23, 17, 9)
    static let cases: [Case] = [
        // nnU-Net's images: cubic, edges repeated; up and down, one axis the same size.
        Case(order: .cubic, boundary: .edge, antiAliasing: false, target: SIMD3(31, 12, 9)),
        // nnU-Net's masks and class maps: linear, edges repeated.
        Case(order: .linear, boundary: .edge, antiAliasing: false, target: SIMD3(15, 29, 13)),
        // LFC: linear, reflected, anti-aliased where an axis shrinks by more than a little.
        Case(order: .linear, boundary: .mirror, antiAliasing: true, target: SIMD3(8, 32, 5)),
        // nnU-Net's separate axis: nearest.
        Case(order: .nearest, boundary: .edge, antiAliasing: false, target: SIMD3(23, 17, 20))
    ]

    @Test(arguments: cases)
    func resizeIsScikitImagesResize(c: Case) throws {
        let input = Self.volume(Self.size)
        var ours = GridResize.resize(
            input, size: Self.size, to: c.target, orders: [c.order, c.order, c.order], boundary: c.boundary,
            antiAliasing: c.antiAliasing)
        if c.order == .cubic { GridResize.clip(&ours, toRangeOf: input) }
        let theirs = try Self.skimage(
            input, size: Self.size, to: c.target, order: c.order.rawValue,
            mode: c.boundary == .edge ? "edge" : "reflect", antiAliasing: c.antiAliasing)
        #expect(ours.count == theirs.count)
        let largest = zip(ours, theirs).map { abs($0 - $1) }.max() ?? .infinity
        // Values reach ~450, where one float32 step is 3e-5: measured, one step at most.
        #expect(largest < 1e-4, "\(c.testDescription): largest difference \(largest)")
    }

    /// SciPy's Gaussian kernel: radius ⌊4σ + 0.5⌋, normalised; none for σ ≈ 0.
    @Test func gaussianKernelIsSciPys() throws {
        let kernel = try #require(GridResize.gaussianKernel(sigma: 0.67))
        #expect(kernel.count == 7)
        #expect(abs(kernel.reduce(0, +) - 1) < 1e-12)
        #expect(abs(kernel[3] / kernel[2] - exp(0.5 / (0.67 * 0.67))) < 1e-12)
        // σ = (150/128 − 1)/2 ≈ 0.086 gives a radius of 0: the identity.
        #expect(GridResize.gaussianKernel(sigma: 0.086) == [1])
        #expect(GridResize.gaussianKernel(sigma: 0) == nil)
    }
}
