import DICOM
import Foundation
import TestSupport
import Testing
import Volume

/// Splitting into stacks, on generated series and on the real files bundled with pydicom.
@Suite struct SeriesStacksTests {
    @Test func splitsInterleavedEchoesAndAssemblesTheFirst() throws {
        let dir = TemporaryDirectory()
        var g = GeneratedSeries.mr()
        g.echoes = 2
        let (_, series, _) = try GeneratedSeries.write(g, into: dir)
        let assembly = try series.assemble()
        #expect(assembly.stacks.primary.key.echoNumber == 1)
        #expect(assembly.stacks.others.map(\.key.echoNumber) == [2])
        #expect(assembly.stacks.others[0].slices.count == g.slices)
        #expect(assembly.warnings.contains { $0.code == .additionalStacks })
        for k in [0, 5, 11] { try Self.expectSlice(assembly.volume, k, equals: g.expectedValues(slice: k, echo: 0)) }
    }

    @Test func leavesTheLocalizerOutAndSaysSo() throws {
        let dir = TemporaryDirectory()
        var g = GeneratedSeries.ct()
        g.includeLocalizer = true
        let (written, series, _) = try GeneratedSeries.write(g, into: dir)
        let assembly = try series.assemble()
        let localizer = try DataSet.read(contentsOf: written.localizerFile!, headerOnly: true).string(.sopInstanceUID)
        #expect(assembly.stacks.excluded.map(\.sopInstanceUID) == [localizer])
        #expect(assembly.volume.geometry.size.z == g.slices)
        #expect(assembly.warnings.contains { $0.code == .excludedInstances })
    }

    @Test func enhancedMultiFrameAppliesPerFrameRescaleAndReferencesFrames() throws {
        let dir = TemporaryDirectory()
        var g = GeneratedSeries.ct()
        g.multiFrame = true
        g.perFrameRescale = true
        g.fileOrder = .reversed
        let (_, series, _) = try GeneratedSeries.write(g, into: dir)
        let assembly = try series.assemble()
        let volume = assembly.volume
        #expect(Set(volume.sources.map(\.sopInstanceUID)).count == 1)
        // Frames were written last slice first: slice k is frame slices − k.
        #expect(volume.sources.map(\.frameNumber) == (0..<g.slices).map { g.slices - $0 })
        #expect(volume.sources[0].sopClassUID == "1.2.840.10008.5.1.4.1.1.2.1")
        for k in 0..<g.slices { try Self.expectSlice(volume, k, equals: g.expectedValues(slice: k)) }
    }

    @Test func monochrome1IsInvertedToTheGeneratorsValues() throws {
        let dir = TemporaryDirectory()
        var g = GeneratedSeries.mr()
        g.monochrome1 = true
        let (_, series, _) = try GeneratedSeries.write(g, into: dir)
        let volume = try series.assemble().volume
        for k in [0, 7] { try Self.expectSlice(volume, k, equals: g.expectedValues(slice: k)) }
    }

    @Test func refusesSingleSlicesOfDifferentOrientations() throws {
        let dir = TemporaryDirectory()
        var axial = GeneratedSeries.ct()
        axial.slices = 1
        var coronal = axial
        (coronal.rowDirection, coronal.columnDirection) = (SIMD3(1, 0, 0), SIMD3(0, 0, -1))
        let a = try axial.write(to: dir.file("a"))
        coronal.studyInstanceUID = a.studyInstanceUID
        let c = try coronal.write(to: dir.file("c"))
        let instances = try (a.files + c.files).map { path throws(VolumeError) in try Instance(contentsOf: path) }
        // One series UID for both, as a scanner that mixes planes in a series would send.
        let series = Series(
            seriesInstanceUID: "1.2.3",
            instances: instances.map {
                var instance = $0
                instance.seriesInstanceUID = "1.2.3"
                instance.frameOfReferenceUID = "1.2.3.1"
                return instance
            })
        let error = try #require(throws: VolumeError.self) { try series.assemble() }
        #expect(error.code == .mixedOrientation)
        #expect(error.seriesInstanceUID == "1.2.3")
    }

    @Test func mergesAcquisitionsAtDisjointPositionsButSplitsRepeatedOnes() throws {
        var parts = StackLayoutTests.series(distances: [0, 3, 6, 9, 12])
        for index in 3..<5 { parts.instances[index].frames[0].acquisitionNumber = 2 }
        let merged = try parts.stacks()
        #expect(merged.primary.slices.count == 5 && merged.others.isEmpty)
        var repeated = StackLayoutTests.series(distances: [0, 3, 6, 0, 3, 6])
        for index in 3..<6 { repeated.instances[index].frames[0].acquisitionNumber = 2 }
        let split = try repeated.stacks()
        #expect(split.primary.key.acquisitionNumber == 1 && split.others.map(\.key.acquisitionNumber) == [2])
    }

    @Test func instanceMetadataRoundTripsThroughJSON() throws {
        let dir = TemporaryDirectory()
        var g = GeneratedSeries.mr()
        g.multiFrame = true
        let (_, series, _) = try GeneratedSeries.write(g, into: dir)
        let data = try JSONEncoder().encode(series.instances)
        let decoded = try JSONDecoder().decode([Instance].self, from: data)
        #expect(decoded == series.instances)
        #expect(decoded[0].frames.count == g.slices)
    }

    // MARK: Real files (pydicom's test data, installed in .venv by Scripts/bootstrap)

    @Test(.enabled(if: GeneratedSeries.pydicomTestFiles != nil, "pydicom test files not installed"))
    func assemblesPydicomCT5N() throws {
        let folder = GeneratedSeries.pydicomTestFiles! + "/dicomdirtests/98892001/CT5N"
        let found = try Series.scan(directory: folder)
        #expect(found.count == 1)
        let assembly = try found[0].assemble()
        let g = assembly.volume.geometry
        #expect(g.size == SIMD3(16, 16, 5))
        #expect(abs(g.spacing.z - 2.5) < 1e-6)
        #expect(abs(g.spacing.x - 0.488281) < 1e-6)
        #expect(g.direction == .identity)
        #expect(abs(g.origin.z - -1.2375) < 1e-6) // lowest slice first along +z
        // Against dcm2niix on the same files.
        let out = TemporaryDirectory()
        let theirs = try Dcm2niix.convert(folder, in: out)
        let reference = try #require(theirs.values.first)
        let comparison = WorldComparison(ours: assembly.volume, theirs: reference)
        #expect(comparison.agrees, "\(comparison)")
    }

    @Test(.enabled(if: GeneratedSeries.pydicomTestFiles != nil, "pydicom test files not installed"))
    func refusesPydicomMR700WithAReason() throws {
        // Seven DERIVED\SECONDARY\PROJECTION IMAGE slices in seven orientations (a radial MIP).
        let folder = GeneratedSeries.pydicomTestFiles! + "/dicomdirtests/98892003/MR700"
        let found = try Series.scan(directory: folder)
        #expect(found.count == 1)
        let error = try #require(throws: VolumeError.self) { try found[0].assemble() }
        #expect(error.code == .noImages)
        #expect(error.reason.contains("7 × projection image"))
        // Kept on request, they are split by orientation, never stacked into one volume.
        var options = AssemblyOptions()
        options.includeDerived = true
        let kept = try #require(throws: VolumeError.self) { try found[0].assemble(options: options) }
        #expect(kept.code == .mixedOrientation)
        #expect(kept.reason.hasPrefix("7 single-slice stacks"))
    }

    static func expectSlice(
        _ volume: Volume, _ k: Int, equals expected: [Float],
        sourceLocation: SourceLocation = #_sourceLocation
    ) throws {
        let plane = volume.geometry.size.x * volume.geometry.size.y
        let actual = Array(volume.voxels[(k * plane)..<((k + 1) * plane)])
        #expect(actual == expected, "slice \(k)", sourceLocation: sourceLocation)
    }
}
