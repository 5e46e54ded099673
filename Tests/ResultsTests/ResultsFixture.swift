import DICOM
import Foundation
import Results
import TestSupport
import Testing
import Volume

/// The generated sources of the Results tests: small series (rows ≠ columns ≠ slices, so an axis
/// mix-up changes the shape) with the phantom's exact ground-truth labels.
enum SourceKind: String, CaseIterable, Sendable, CustomTestStringConvertible {
    case axialCT, doubleObliqueMR, nonSquarePixels, enhancedCT, reversedSlices

    var testDescription: String { rawValue }

    var generator: SeriesGenerator {
        var g = SeriesGenerator()
        g.rows = 40
        g.columns = 48
        g.slices = 12
        g.pixelSpacing = (row: 5, column: 5)
        g.sliceSpacing = 10
        g.phantom.noise = 0
        switch self {
        case .axialCT:
            break
        case .doubleObliqueMR:
            g.modality = .mr
            g.signed = false
            g.bitsStored = 12
            g.phantom = .headMR(size: 180)
            g.phantom.noise = 0
            (g.rowDirection, g.columnDirection) = Self.rotated(aboutX: 0.35, aboutY: -0.25)
        case .nonSquarePixels:
            g.pixelSpacing = (row: 4, column: 6.5)
        case .enhancedCT:
            g.multiFrame = true
            g.fileOrder = .reversed
        case .reversedSlices:
            // Columns run anterior-ward, so the slice normal (row × column) points to the feet:
            // slice k + 1 lies below slice k. Files are also named in reverse.
            g.columnDirection = SIMD3(0, -1, 0)
            g.fileOrder = .reversed
        }
        return g
    }

    /// Row and column directions of the axial plane rotated about x, then y.
    static func rotated(aboutX ax: Double, aboutY ay: Double) -> (SIMD3<Double>, SIMD3<Double>) {
        func rotate(_ v: SIMD3<Double>) -> SIMD3<Double> {
            let p = SIMD3(v.x, v.y * cos(ax) - v.z * sin(ax), v.y * sin(ax) + v.z * cos(ax))
            return SIMD3(p.x * cos(ay) + p.z * sin(ay), p.y, -p.x * sin(ay) + p.z * cos(ay))
        }
        return (rotate(SIMD3(1, 0, 0)), rotate(SIMD3(0, 1, 0)))
    }
}

/// A generated source series, scanned and assembled, with its ground-truth label map.
struct GeneratedSource {
    let directory: TemporaryDirectory
    let generator: SeriesGenerator
    let written: SeriesGenerator.Written
    let series: Series
    let volume: Volume
    /// Phantom labels in volume order (slice k of the generator is slice k of the volume).
    let labels: [UInt8]

    init(_ generator: SeriesGenerator) throws {
        directory = TemporaryDirectory("results")
        self.generator = generator
        written = try generator.write(to: directory.file("source"))
        let found = try Series.scan(directory: directory.file("source"))
        guard found.count == 1 else { throw ToolError("expected one series, found \(found.count)") }
        series = found[0]
        volume = try series.assemble().volume
        labels = generator.labels()
    }

    init(_ kind: SourceKind) throws { try self.init(kind.generator) }

    /// The label map as a volume on `geometry` (the source grid unless given).
    func labelVolume(_ values: [UInt8]? = nil, geometry: Geometry? = nil) -> Volume {
        Volume(geometry: geometry ?? volume.geometry, voxels: (values ?? labels).map(Float.init))
    }

    /// Writes the label map as NIfTI (uint8) and returns its path.
    func writeLabels(_ volume: Volume? = nil, name: String = "labels.nii.gz") throws -> String {
        let path = directory.file(name)
        try NIfTI.write(volume ?? labelVolume(), to: path, as: .uint8)
        return path
    }

    /// Volume of one voxel from the generator's own numbers (not the grid under test).
    var voxelVolume: Double { generator.pixelSpacing.row * generator.pixelSpacing.column * generator.sliceSpacing }
}
