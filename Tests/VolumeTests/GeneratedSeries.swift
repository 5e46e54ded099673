import DICOM
import Foundation
import TestSupport
import Volume

/// Small generated series for the volume tests: sizes are kept low so the whole target runs in
/// seconds, but rows ≠ columns and slices ≠ both, so any axis mix-up changes the shape.
enum GeneratedSeries {
    static func ct() -> SeriesGenerator {
        var g = SeriesGenerator()
        g.modality = .ct
        g.rows = 40
        g.columns = 48
        g.slices = 12
        g.pixelSpacing = (row: 4, column: 4)
        g.sliceSpacing = 5
        g.rescaleIntercept = -1024
        g.signed = true
        g.phantom = .abdomenCT(size: 150)
        return g
    }

    static func mr() -> SeriesGenerator {
        var g = ct()
        g.modality = .mr
        g.rescaleIntercept = 0
        g.signed = false
        g.bitsStored = 12
        g.phantom = .headMR(size: 150)
        return g
    }

    /// Orientation from a rotation of the axial plane: returns (row, column) direction cosines.
    static func rotated(aboutX ax: Double, aboutY ay: Double, aboutZ az: Double) -> (SIMD3<Double>, SIMD3<Double>) {
        func rotate(_ v: SIMD3<Double>) -> SIMD3<Double> {
            var p = v
            p = SIMD3(p.x, p.y * cos(ax) - p.z * sin(ax), p.y * sin(ax) + p.z * cos(ax))
            p = SIMD3(p.x * cos(ay) + p.z * sin(ay), p.y, -p.x * sin(ay) + p.z * cos(ay))
            p = SIMD3(p.x * cos(az) - p.y * sin(az), p.x * sin(az) + p.y * cos(az), p.z)
            return p
        }
        return (rotate(SIMD3(1, 0, 0)), rotate(SIMD3(0, 1, 0)))
    }

    /// Writes `generator` into a new folder of `directory` and scans it back as one series.
    static func write(
        _ generator: SeriesGenerator, into directory: TemporaryDirectory,
        name: String = "series"
    ) throws -> (written: SeriesGenerator.Written, series: Series, path: String) {
        let path = directory.file(name)
        var generator = generator
        let jpeg2000 = [TransferSyntax.jpeg2000Lossless, .jpeg2000].contains(generator.transferSyntax)
        let lossy = generator.transferSyntax == .jpeg2000
        // DCMTK cannot encode JPEG 2000: write uncompressed, then compress with GDCM.
        if jpeg2000 { generator.transferSyntax = .explicitVRLittleEndian }
        let written = try generator.write(to: path)
        if jpeg2000 {
            for file in written.files + [written.localizerFile].compactMap({ $0 }) {
                try ExternalTool.check(
                    "gdcmconv", ["--j2k"] + (lossy ? ["--irreversible", "-q", "30"] : []) + [file, file])
            }
        }
        let found = try Series.scan(directory: path)
        precondition(found.count == 1, "one series expected")
        return (written, found[0], path)
    }

    /// The package root (for the .venv that bootstrap makes).
    static var packageRoot: String {
        URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
            .deletingLastPathComponent().path
    }

    /// pydicom's bundled test files (installed by Scripts/bootstrap in .venv), if present.
    static var pydicomTestFiles: String? {
        let lib = packageRoot + "/.venv/lib"
        guard let versions = try? FileManager.default.contentsOfDirectory(atPath: lib) else { return nil }
        for version in versions.sorted() where version.hasPrefix("python") {
            let path = lib + "/" + version + "/site-packages/pydicom/data/test_files"
            if FileManager.default.fileExists(atPath: path) { return path }
        }
        return nil
    }
}
