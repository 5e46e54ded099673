import Testing

@testable import Results

/// Outlines follow pixel edges, enclose exactly the mask (even-odd at pixel centres), are simple
/// polygons, keep the region on the positive-area side, and come in raster order.
@Suite struct SliceContoursTests {
    @Test func singlePixelIsASquareOfFourCorners() {
        let (mask, rows, columns) = picture(["...", ".X.", "..."])
        let contours = SliceContours.trace(mask: mask, rows: rows, columns: columns)
        #expect(contours == [outer([1, 1], [2, 1], [2, 2], [1, 2])])
        #expect(contours[0].signedArea == 1)
    }

    /// A 10 × 10 square keeps only its corners, clockwise on screen (positive shoelace area).
    @Test func squareHasFourCornersAndPositiveArea() {
        var mask = [Bool](repeating: false, count: 16 * 16)
        for r in 2..<12 { for c in 3..<13 { mask[r * 16 + c] = true } }
        let contours = SliceContours.trace(mask: mask, rows: 16, columns: 16)
        #expect(contours == [outer([3, 2], [13, 2], [13, 12], [3, 12])])
        #expect(contours[0].signedArea == 100)
        #expect(SliceContours.rasterize(contours, rows: 16, columns: 16) == mask)
    }

    @Test func lShapeHasSixCorners() {
        let (mask, rows, columns) = picture(["X..", "X..", "XXX"])
        let contours = SliceContours.trace(mask: mask, rows: rows, columns: columns)
        #expect(contours == [outer([0, 0], [1, 0], [1, 2], [3, 2], [3, 3], [0, 3])])
        #expect(contours[0].signedArea == 5)
    }

    /// The hole runs the other way (negative area), after the region that encloses it.
    @Test func ringHasAnOuterContourAndAHole() {
        let (mask, rows, columns) = picture([".....", ".XXX.", ".X.X.", ".XXX.", "....."])
        let contours = SliceContours.trace(mask: mask, rows: rows, columns: columns)
        #expect(contours == [outer([1, 1], [4, 1], [4, 4], [1, 4]), hole([2, 2], [2, 3], [3, 3], [3, 2])])
        #expect(contours.map(\.signedArea) == [9, -1])
        #expect(SliceContours.rasterize(contours, rows: rows, columns: columns) == mask)
    }

    /// Foreground is 4-connected: pixels touching only at a corner are two squares sharing a vertex.
    @Test(arguments: [["X.", ".X"], [".X", "X."]])
    func diagonalPixelsAreSeparateRegions(_ rowsOfPicture: [String]) {
        let (mask, rows, columns) = picture(rowsOfPicture)
        let contours = SliceContours.trace(mask: mask, rows: rows, columns: columns)
        let expected =
            mask[0]
            ? [outer([0, 0], [1, 0], [1, 1], [0, 1]), outer([1, 1], [2, 1], [2, 2], [1, 2])]
            : [outer([1, 0], [2, 0], [2, 1], [1, 1]), outer([0, 1], [1, 1], [1, 2], [0, 2])]
        #expect(contours == expected)
        #expect(SliceContours.rasterize(contours, rows: rows, columns: columns) == mask)
        #expect(violations(contours).isEmpty)
    }

    @Test func islandInsideAHoleIsAnotherRegion() {
        let (mask, rows, columns) = picture([
            "XXXXXXX",
            "X.....X",
            "X.XXX.X",
            "X.X.X.X",
            "X.XXX.X",
            "X.....X",
            "XXXXXXX"
        ])
        let contours = SliceContours.trace(mask: mask, rows: rows, columns: columns)
        #expect(
            contours == [
                outer([0, 0], [7, 0], [7, 7], [0, 7]), hole([1, 1], [1, 6], [6, 6], [6, 1]),
                outer([2, 2], [5, 2], [5, 5], [2, 5]), hole([3, 3], [3, 4], [4, 4], [4, 3])
            ])
        #expect(contours.map(\.signedArea) == [49, -25, 9, -1])
        #expect(SliceContours.rasterize(contours, rows: rows, columns: columns) == mask)
    }

    /// A region that curls round and touches itself at a corner encloses a hole there rather than
    /// drawing its outline through the corner twice.
    @Test func regionTouchingItselfAtACornerEnclosesAHole() {
        let (mask, rows, columns) = picture([".XXX", ".X.X", "..XX", "...."])
        let contours = SliceContours.trace(mask: mask, rows: rows, columns: columns)
        #expect(
            contours == [
                outer([1, 0], [4, 0], [4, 3], [2, 3], [2, 2], [1, 2]), hole([2, 1], [2, 2], [3, 2], [3, 1])
            ])
        #expect(violations(contours).isEmpty)
        #expect(SliceContours.rasterize(contours, rows: rows, columns: columns) == mask)
    }

    /// Background enclosed on both sides of such a corner makes two holes touching at it.
    @Test func holeTouchingItselfAtACornerIsTwoHoles() {
        let (mask, rows, columns) = picture(["XXXX", "XX.X", "X.XX", "XXXX"])
        let contours = SliceContours.trace(mask: mask, rows: rows, columns: columns)
        #expect(
            contours == [
                outer([0, 0], [4, 0], [4, 4], [0, 4]), hole([2, 1], [2, 2], [3, 2], [3, 1]),
                hole([1, 2], [1, 3], [2, 3], [2, 2])
            ])
        #expect(violations(contours).isEmpty)
        #expect(SliceContours.rasterize(contours, rows: rows, columns: columns) == mask)
    }

    @Test func emptyMaskHasNoContours() {
        #expect(SliceContours.trace(mask: [Bool](repeating: false, count: 12), rows: 3, columns: 4).isEmpty)
        #expect(SliceContours.trace(mask: [], rows: 0, columns: 5).isEmpty)
        #expect(SliceContours.rasterize([], rows: 3, columns: 4) == [Bool](repeating: false, count: 12))
    }

    @Test func fullMaskIsTheImageOutline() {
        let mask = [Bool](repeating: true, count: 12)
        let contours = SliceContours.trace(mask: mask, rows: 3, columns: 4)
        #expect(contours == [outer([0, 0], [4, 0], [4, 3], [0, 3])])
        #expect(SliceContours.rasterize(contours, rows: 3, columns: 4) == mask)
    }

    /// Background open to the image border is not a hole, and outlines run along the border.
    @Test func regionAlongTheBorderHasNoHole() {
        let (mask, rows, columns) = picture(["XX.X", "X..X", "XXXX"])
        let contours = SliceContours.trace(mask: mask, rows: rows, columns: columns)
        #expect(
            contours == [
                outer([0, 0], [2, 0], [2, 1], [1, 1], [1, 2], [3, 2], [3, 0], [4, 0], [4, 3], [0, 3])
            ])
        #expect(contours[0].signedArea == 9)
        #expect(SliceContours.rasterize(contours, rows: rows, columns: columns) == mask)
    }

    /// Random masks of every size up to 24 × 24 and several densities: the outlines give the mask
    /// back exactly, are simple, use every boundary crack once, and there is one outer contour per
    /// 4-connected region and one hole per enclosed background component under the documented rule.
    @Test func randomMasksRoundTripExactlyAsSimplePolygons() {
        var random = LCG(seed: 0x5EED_C0DE)
        for trial in 0..<200 {
            let rows = 1 + random.next(below: 24), columns = 1 + random.next(below: 24)
            let density = [0.15, 0.35, 0.5, 0.65, 0.85][trial % 5]
            let mask = (0..<rows * columns).map { _ in random.unit() < density }
            let contours = SliceContours.trace(mask: mask, rows: rows, columns: columns)
            let context = "trial \(trial), \(rows) × \(columns)"
            #expect(SliceContours.rasterize(contours, rows: rows, columns: columns) == mask, "\(context)")
            #expect(violations(contours) == [], "\(context)")
            for contour in contours {
                #expect((contour.signedArea < 0) == contour.isHole, "\(context)")
            }
            #expect(contours.reduce(0) { $0 + $1.signedArea } == Double(mask.filter { $0 }.count), "\(context)")
            #expect(contours.reduce(0) { $0 + perimeter($1) } == cracks(mask, rows, columns), "\(context)")
            let (regionCount, holeCount) = components(mask, rows, columns)
            #expect(contours.filter { !$0.isHole }.count == regionCount, "\(context)")
            #expect(contours.filter(\.isHole).count == holeCount, "\(context)")
            // Ordered by top-left vertex, each contour starting at its own.
            let starts = contours.map { SIMD2($0.points[0].y, $0.points[0].x) }
            for (contour, start) in zip(contours, starts) {
                #expect(contour.points.allSatisfy { !precedes(SIMD2($0.y, $0.x), start) }, "\(context)")
            }
            #expect(zip(starts, starts.dropFirst()).allSatisfy { precedes($0, $1) }, "\(context)")
        }
    }

    @Test func rasterizeFillsPixelsWhoseCentresAreInsideInEitherOrientation() {
        let rectangle = [SIMD2(0.4, 0.4), SIMD2(2.6, 0.4), SIMD2(2.6, 1.6), SIMD2(0.4, 1.6)]
        let expected = [true, true, true, false, true, true, true, false, false, false, false, false]
        for points in [rectangle, rectangle.reversed()] {
            let mask = SliceContours.rasterize([PixelContour(points: points, isHole: false)], rows: 3, columns: 4)
            #expect(mask == expected)
        }
        // A triangle: centres (0.5, 0.5), (1.5, 0.5), (0.5, 1.5) lie below the line x + y = 2.6.
        let triangle = [SIMD2(0.0, 0.0), SIMD2(2.6, 0.0), SIMD2(0.0, 2.6)]
        let filled = SliceContours.rasterize([PixelContour(points: triangle, isHole: false)], rows: 3, columns: 3)
        #expect(filled == [true, true, false, true, false, false, false, false, false])
    }

    /// Shapes sharing an edge split the pixels on it; points far outside or not finite do not trap.
    @Test func rasterizeSplitsSharedEdgesAndToleratesWildPoints() {
        let left = PixelContour(points: [SIMD2(0, 0), SIMD2(1.5, 0), SIMD2(1.5, 1), SIMD2(0, 1)], isHole: false)
        let right = PixelContour(points: [SIMD2(1.5, 0), SIMD2(3, 0), SIMD2(3, 1), SIMD2(1.5, 1)], isHole: false)
        #expect(SliceContours.rasterize([left], rows: 1, columns: 3) == [true, false, false])
        #expect(SliceContours.rasterize([right], rows: 1, columns: 3) == [false, true, true])
        let wild = PixelContour(
            points: [SIMD2(-1e300, -1e300), SIMD2(1e300, -1e300), SIMD2(1e300, 1e300), SIMD2(-1e300, 1e300)],
            isHole: false)
        #expect(SliceContours.rasterize([wild], rows: 2, columns: 2) == [true, true, true, true])
        let broken = PixelContour(points: [SIMD2(0, 0), SIMD2(.nan, 1), SIMD2(0, .infinity)], isHole: false)
        #expect(SliceContours.rasterize([broken], rows: 2, columns: 2) == [false, false, false, false])
    }
}

// MARK: - Masks and expected contours

/// A mask drawn as text, one string per row, `X` for foreground.
private func picture(_ lines: [String]) -> (mask: [Bool], rows: Int, columns: Int) {
    (lines.flatMap { $0.map { $0 == "X" } }, lines.count, lines.first?.count ?? 0)
}

private func outer(_ points: [Double]...) -> PixelContour {
    PixelContour(points: points.map { SIMD2($0[0], $0[1]) }, isHole: false)
}

private func hole(_ points: [Double]...) -> PixelContour {
    PixelContour(points: points.map { SIMD2($0[0], $0[1]) }, isHole: true)
}

/// A tiny seeded generator (Knuth's MMIX LCG), so the random masks are the same on every run.
private struct LCG {
    var state: UInt64
    init(seed: UInt64) { state = seed }
    mutating func next() -> UInt64 {
        state = state &* 6_364_136_223_846_793_005 &+ 1_442_695_040_888_963_407
        return state >> 33
    }
    mutating func next(below bound: Int) -> Int { Int(next() % UInt64(bound)) }
    mutating func unit() -> Double { Double(next()) / Double(1 << 31) }
}

// MARK: - Independent checks

/// Raster order of (row, column) pairs.
private func precedes(_ a: SIMD2<Double>, _ b: SIMD2<Double>) -> Bool {
    a.x < b.x || a.x == b.x && a.y < b.y
}

private func perimeter(_ contour: PixelContour) -> Int {
    zip(contour.points, contour.points.dropFirst() + contour.points.prefix(1)).reduce(0) {
        $0 + Int(abs($1.1.x - $1.0.x) + abs($1.1.y - $1.0.y))
    }
}

/// Pixel edges with foreground on one side and background (or the image border) on the other.
private func cracks(_ mask: [Bool], _ rows: Int, _ columns: Int) -> Int {
    func at(_ r: Int, _ c: Int) -> Bool { r >= 0 && r < rows && c >= 0 && c < columns && mask[r * columns + c] }
    var count = 0
    for r in -1..<rows {
        for c in -1..<columns {
            if at(r, c) != at(r + 1, c), c >= 0 { count += 1 }
            if at(r, c) != at(r, c + 1), r >= 0 { count += 1 }
        }
    }
    return count
}

/// The number of foreground regions (4-connected) and of holes, by flood fill: background
/// components, other than the one outside the image, where background is 4-connected and also
/// joins diagonally across a corner whose two foreground pixels are in different regions.
private func components(_ mask: [Bool], _ rows: Int, _ columns: Int) -> (regions: Int, holes: Int) {
    // With a background border, so that everything outside the image is one component.
    let width = columns + 2, count = (rows + 2) * width
    var inside = [Bool](repeating: false, count: count)
    for r in 0..<rows { for c in 0..<columns { inside[(r + 1) * width + c + 1] = mask[r * columns + c] } }
    func fill(_ start: Int, _ label: Int, _ labels: inout [Int], _ neighbours: (Int, Int) -> [Int]) {
        labels[start] = label
        var pending = [start]
        while let i = pending.popLast() {
            for j in neighbours(i / width, i % width) where labels[j] < 0 {
                labels[j] = label
                pending.append(j)
            }
        }
    }
    func near(_ r: Int, _ c: Int, _ dr: Int, _ dc: Int) -> Int? {
        let nr = r + dr, nc = c + dc
        return nr >= 0 && nr < rows + 2 && nc >= 0 && nc < width ? nr * width + nc : nil
    }
    var region = [Int](repeating: -1, count: count), regions = 0
    for i in 0..<count where inside[i] && region[i] < 0 {
        fill(i, regions, &region) { r, c in
            [(-1, 0), (1, 0), (0, -1), (0, 1)].compactMap { near(r, c, $0.0, $0.1) }.filter { inside[$0] }
        }
        regions += 1
    }
    var background = [Int](repeating: -1, count: count), backgrounds = 0
    for i in 0..<count where !inside[i] && background[i] < 0 {
        fill(i, backgrounds, &background) { r, c in
            var next = [(-1, 0), (1, 0), (0, -1), (0, 1)].compactMap { near(r, c, $0.0, $0.1) }.filter { !inside[$0] }
            for (dr, dc) in [(-1, -1), (-1, 1), (1, -1), (1, 1)] {
                guard let j = near(r, c, dr, dc), !inside[j], let a = near(r, c, dr, 0), let b = near(r, c, 0, dc),
                    inside[a], inside[b], region[a] != region[b]
                else { continue }
                next.append(j)
            }
            return next
        }
        backgrounds += 1
    }
    return (regions, backgrounds - 1)
}

/// Everything wrong with the contours as polygons, by brute force: a segment that is not
/// horizontal or vertical, a repeated or collinear vertex, two segments of one contour that meet
/// anywhere but at the vertex they share, or segments of two contours that overlap or meet
/// anywhere but at a vertex of both.
private func violations(_ contours: [PixelContour]) -> [String] {
    // An axis-aligned segment is its bounding box, whose corners are its two ends; integers keep
    // the brute force quick in debug builds.
    struct Box: Equatable {
        var x0, y0, x1, y1: Int
        var isPoint: Bool { x0 == x1 && y0 == y1 }
        func hasEnd(_ p: Box) -> Bool { (p.x0 == x0 && p.y0 == y0) || (p.x0 == x1 && p.y0 == y1) }
        func meet(_ t: Box) -> Box? {
            let m = Box(x0: max(x0, t.x0), y0: max(y0, t.y0), x1: min(x1, t.x1), y1: min(y1, t.y1))
            return m.x0 <= m.x1 && m.y0 <= m.y1 ? m : nil
        }
    }
    var problems: [String] = []
    let segments: [[Box]] = contours.map { c in
        zip(c.points, c.points.dropFirst() + c.points.prefix(1)).map { a, b in
            Box(x0: Int(min(a.x, b.x)), y0: Int(min(a.y, b.y)), x1: Int(max(a.x, b.x)), y1: Int(max(a.y, b.y)))
        }
    }
    for (k, contour) in contours.enumerated() {
        let n = contour.points.count
        if n < 4 { problems.append("contour \(k) has \(n) points") }
        if contour.points.contains(where: { $0 != $0.rounded(.down) }) {
            problems.append("contour \(k) is off the pixel corners")
        }
        if Set(contour.points.map { [$0.x, $0.y] }).count != n { problems.append("contour \(k) repeats a vertex") }
        for (i, s) in segments[k].enumerated() {
            if s.x0 != s.x1 && s.y0 != s.y1 { problems.append("contour \(k) segment \(i) is oblique") }
            let next = segments[k][(i + 1) % n]
            if (s.x0 == s.x1) == (next.x0 == next.x1) {
                problems.append("contour \(k) vertex \((i + 1) % n) is not a corner")
            }
            for j in (i + 1)..<n {
                guard let m = s.meet(segments[k][j]) else { continue }
                let adjacent = j == i + 1 || (i == 0 && j == n - 1)
                if !adjacent || !m.isPoint { problems.append("contour \(k) segments \(i) and \(j) meet at \(m)") }
            }
        }
    }
    for k in contours.indices {
        for l in (k + 1)..<contours.count {
            for s in segments[k] {
                for t in segments[l] {
                    guard let m = s.meet(t) else { continue }
                    if !m.isPoint || !s.hasEnd(m) || !t.hasEnd(m) {
                        problems.append("contours \(k) and \(l) meet at \(m)")
                    }
                }
            }
        }
    }
    return problems
}
