import Foundation
import Volume

/// Where a sample series' slices lie: a standard plane (optionally tilted), matrix, spacing and
/// the patient point at its centre. Applied to a `SeriesGenerator` with `place(on:)`.
public struct SeriesGrid: Sendable, Equatable {
    /// Standard planes with the row and column directions scanners use (PS3.3 C.7.6.2.1.1):
    /// axial rows run to the patient's left and columns posterior; sagittal rows posterior and
    /// columns down (feet); coronal rows left and columns down.
    public enum Orientation: String, Sendable, CaseIterable {
        case axial, sagittal, coronal

        public var directions: (row: SIMD3<Double>, column: SIMD3<Double>) {
            switch self {
            case .axial: (SIMD3(1, 0, 0), SIMD3(0, 1, 0))
            case .sagittal: (SIMD3(0, 1, 0), SIMD3(0, 0, -1))
            case .coronal: (SIMD3(1, 0, 0), SIMD3(0, 0, -1))
            }
        }
    }

    public var orientation = Orientation.axial
    /// Rows and columns.
    public var size = 192
    /// In-plane spacing, mm (square pixels).
    public var pixelSpacing = 1.0
    public var slices = 144
    /// Distance between slice centres, mm.
    public var sliceSpacing = 1.2
    /// Oblique planes: the slice stack turned by this angle about the row direction (an oblique
    /// axial tilted like an AC–PC-aligned brain acquisition).
    public var rotationDegrees = 0.0
    /// Patient point (LPS, mm) at the centre of the slab.
    public var centre = SIMD3<Double>.zero

    public init() {}

    /// Row and column direction cosines after the rotation.
    public var directions: (row: SIMD3<Double>, column: SIMD3<Double>) {
        let (row, column) = orientation.directions
        let normal = SIMD3(
            row.y * column.z - row.z * column.y, row.z * column.x - row.x * column.z,
            row.x * column.y - row.y * column.x)
        let a = rotationDegrees * Double.pi / 180
        return (row, column * cos(a) + normal * sin(a))
    }
}

extension SeriesGenerator {
    /// Sets matrix, spacing, orientation and origin so that the series covers `grid`.
    public mutating func place(on grid: SeriesGrid) {
        rows = grid.size
        columns = grid.size
        slices = grid.slices
        pixelSpacing = (grid.pixelSpacing, grid.pixelSpacing)
        sliceSpacing = grid.sliceSpacing
        (rowDirection, columnDirection) = grid.directions
        let halfExtent =
            rowDirection * (grid.pixelSpacing * Double(grid.size - 1) / 2)
            + columnDirection * (grid.pixelSpacing * Double(grid.size - 1) / 2)
            + sliceNormal * (grid.sliceSpacing * Double(grid.slices - 1) / 2)
        origin = grid.centre - halfExtent
    }
}
