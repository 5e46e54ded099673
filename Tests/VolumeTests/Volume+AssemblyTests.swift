import DICOM
import Foundation
import TestSupport
import Testing
import Volume

/// Every valid generated series assembles to the volume dcm2niix makes of the same files:
/// affine within 1e-3 mm and 1e-5 in direction cosines, voxel values identical (compared in
/// patient space, whatever flips dcm2niix applies), and to the generator's exact values.
@Suite struct VolumeAssemblyTests {
    struct Case: CustomTestStringConvertible, Sendable {
        var name: String
        var generator: SeriesGenerator
        /// The dcm2niix output to compare with.
        var dcm2niixFile = "d2n"
        var valueTolerance: Float = 0
        var margin = 0
        var testDescription: String { name }
    }

    static let cases: [Case] = {
        var cases: [Case] = []
        cases.append(Case(name: "axial CT, signed, intercept −1024", generator: GeneratedSeries.ct()))
        var sagittal = GeneratedSeries.mr()
        (sagittal.rowDirection, sagittal.columnDirection) = (SIMD3(0, 1, 0), SIMD3(0, 0, -1))
        cases.append(Case(name: "sagittal MR", generator: sagittal))
        var coronal = GeneratedSeries.mr()
        (coronal.rowDirection, coronal.columnDirection) = (SIMD3(1, 0, 0), SIMD3(0, 0, -1))
        cases.append(Case(name: "coronal MR", generator: coronal))
        var oblique = GeneratedSeries.mr()
        (oblique.rowDirection, oblique.columnDirection) = GeneratedSeries.rotated(
            aboutX: 0.3, aboutY: -0.2, aboutZ: 0.15)
        oblique.origin = SIMD3(-83.25, -71.5, -20.125)
        cases.append(Case(name: "double-oblique MR", generator: oblique))
        var reversed = GeneratedSeries.ct()
        reversed.fileOrder = .reversed
        cases.append(Case(name: "reversed instance order", generator: reversed))
        var shuffled = GeneratedSeries.ct()
        shuffled.fileOrder = .shuffled
        cases.append(Case(name: "shuffled file names", generator: shuffled))
        var nonSquare = GeneratedSeries.ct()
        nonSquare.pixelSpacing = (row: 0.7 * 5, column: 0.9 * 5)
        cases.append(Case(name: "non-square pixels (row 3.5, column 4.5 mm)", generator: nonSquare))
        var monochrome1 = GeneratedSeries.ct()
        monochrome1.monochrome1 = true
        cases.append(Case(name: "MONOCHROME1", generator: monochrome1))
        var unsigned = GeneratedSeries.ct()
        unsigned.signed = false
        unsigned.bitsStored = 12
        cases.append(Case(name: "unsigned CT, 12 bits stored", generator: unsigned))
        var slope = GeneratedSeries.mr()
        slope.rescaleSlope = 0.5
        slope.rescaleIntercept = 10
        cases.append(Case(name: "MR with slope 0.5, intercept 10", generator: slope))
        var enhancedCT = GeneratedSeries.ct()
        enhancedCT.multiFrame = true
        cases.append(Case(name: "enhanced multi-frame CT", generator: enhancedCT))
        var enhancedMR = oblique
        enhancedMR.multiFrame = true
        cases.append(Case(name: "enhanced multi-frame MR (oblique)", generator: enhancedMR))
        var echoes = GeneratedSeries.mr()
        echoes.echoes = 2
        cases.append(Case(name: "two interleaved echoes (primary: echo 1)", generator: echoes, dcm2niixFile: "d2n_e1"))
        var localizer = GeneratedSeries.ct()
        localizer.includeLocalizer = true
        cases.append(Case(name: "localizer mixed in", generator: localizer, dcm2niixFile: "d2n_i00001"))
        for syntax in TransferSyntax.supported
        where syntax.isEncapsulated || syntax == .deflatedExplicitVRLittleEndian
            || syntax == .explicitVRBigEndian || syntax == .implicitVRLittleEndian
        {
            var compressed = GeneratedSeries.ct()
            compressed.transferSyntax = syntax
            compressed.phantom.noise = 0
            // Lossy JPEG of 16-bit data makes DCMTK rescale into 8/12 bits with a fractional slope,
            // which NIfTI stores as float32 (scl_slope): values then agree to float rounding only.
            cases.append(
                Case(
                    name: "transfer syntax \(syntax.name)", generator: compressed,
                    valueTolerance: syntax == .jpegBaseline || syntax == .jpegExtended ? 1e-3 : 0))
        }
        return cases
    }()

    @Test(arguments: cases)
    func agreesWithDcm2niix(_ c: Case) throws {
        let dir = TemporaryDirectory()
        let (_, series, path) = try GeneratedSeries.write(c.generator, into: dir)
        let assembly = try series.assemble()
        let syntax = c.generator.transferSyntax
        let readable =
            Dcm2niix.needsDecompressedCopy(syntax)
            ? try Dcm2niix.decompressedCopy(of: path, syntax: syntax, in: dir) : path
        let out = TemporaryDirectory()
        let theirs = try Dcm2niix.convert(readable, in: out)
        let reference = try #require(theirs[c.dcm2niixFile], "dcm2niix wrote \(theirs.keys.sorted())")
        let g = c.generator
        let comparison = WorldComparison(
            ours: assembly.volume, theirs: reference, valueTolerance: c.valueTolerance,
            margin: c.margin
        ) { value in
            // dcm2niix keeps MONOCHROME1 stored values: v = s·r + b; ours is s·(max + min − r) + b.
            guard g.monochrome1 else { return value }
            let range = (
                min: Double(g.signed ? -(1 << (g.bitsStored - 1)) : 0),
                max: Double(g.signed ? (1 << (g.bitsStored - 1)) - 1 : (1 << g.bitsStored) - 1)
            )
            return Float(g.rescaleSlope * (range.max + range.min) + 2 * g.rescaleIntercept - Double(value))
        }
        #expect(comparison.agrees, "\(comparison)")
    }
}

/// The memory bound: a series over `maximumVoxels` is refused by size, naming
/// the series, before a pixel is decoded; at the bound it assembles.
@Suite struct VolumeSizeLimitTests {
    @Test func aSeriesOverTheBoundIsRefusedWithItsSize() throws {
        let dir = TemporaryDirectory()
        let (_, series, _) = try GeneratedSeries.write(GeneratedSeries.ct(), into: dir)
        var options = AssemblyOptions()
        options.maximumVoxels = 48 * 40 * 12 - 1
        #expect {
            try series.assemble(options: options)
        } throws: { error in
            let e = error as! VolumeError
            return e.code == .tooLarge && e.seriesInstanceUID == series.seriesInstanceUID
                && e.reason.contains("48×40×12 = 23040 voxels")
        }
        options.maximumVoxels = 48 * 40 * 12
        #expect(try series.assemble(options: options).volume.geometry.voxelCount == 23040)
        #expect(AssemblyOptions().maximumVoxels == 1 << 30, "on by default")
    }
}
