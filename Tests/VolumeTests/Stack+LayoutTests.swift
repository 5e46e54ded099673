import DICOM
import Foundation
import TestSupport
import Testing

@testable import Volume

/// Sorting and gap checks: every failure is a typed error naming the series, tag and instance,
/// never a silently wrong volume.
@Suite struct StackLayoutTests {
    @Test func refusesMissingSliceNamingTheInstanceAfterTheGap() throws {
        let dir = TemporaryDirectory()
        var g = GeneratedSeries.ct()
        g.omittedSlices = [5]
        let (written, series, _) = try GeneratedSeries.write(g, into: dir)
        let error = try #require(throws: VolumeError.self) { try series.assemble() }
        #expect(error.code == .missingSlice)
        #expect(error.seriesInstanceUID == written.seriesInstanceUID)
        #expect(error.tag == .imagePositionPatient)
        let afterGap = try DataSet.read(contentsOf: written.files[5], headerOnly: true).string(.sopInstanceUID)
        #expect(error.sopInstanceUID == afterGap)
        #expect(error.reason.contains("1 slice(s) missing"))
    }

    @Test func refusesDuplicatePosition() throws {
        let dir = TemporaryDirectory()
        var g = GeneratedSeries.ct()
        g.duplicatedSlices = [3]
        let (written, series, _) = try GeneratedSeries.write(g, into: dir)
        let error = try #require(throws: VolumeError.self) { try series.assemble() }
        #expect(error.code == .duplicatePosition)
        #expect(error.seriesInstanceUID == written.seriesInstanceUID)
        #expect(error.sopInstanceUID != nil)
    }

    @Test func refusesNonUniformSpacingButAcceptsItWithinTolerance() throws {
        let series = Self.series(distances: [0, 3, 6, 9, 12.6, 15.6])
        let error = try #require(throws: VolumeError.self) { try series.stacks().primary.layout(series: "1.2.3") }
        #expect(error.code == .nonUniformSpacing)
        var options = AssemblyOptions()
        options.sliceGapTolerance = 0.25
        let layout = try series.stacks().primary.layout(series: "1.2.3", options: options)
        #expect(layout.geometry.spacing.z == 15.6 / 5)
        #expect(layout.warnings.contains { $0.code == .spacingVariation })
    }

    @Test func refusesSingleSliceUnlessAllowed() throws {
        let series = Self.series(distances: [7])
        let error = try #require(throws: VolumeError.self) { try series.stacks().primary.layout(series: "1.2.3") }
        #expect(error.code == .singleSlice)
        var options = AssemblyOptions()
        options.allowSingleSlice = true
        let layout = try series.stacks().primary.layout(series: "1.2.3", options: options)
        #expect(layout.geometry.size.z == 1)
        #expect(layout.geometry.spacing.z == 2.5) // Slice Thickness
        #expect(layout.warnings.map(\.code) == [.singleSlice])
    }

    @Test func refusesPositionsOffAnyTrack() throws {
        var series = Self.series(distances: [0, 3, 6, 9, 12])
        series.instances[2].frames[0].position! += SIMD3(0.5, 0, 0)
        let error = try #require(throws: VolumeError.self) { try series.stacks().primary.layout(series: "1.2.3") }
        #expect(error.code == .irregularPositions)
        #expect(error.sopInstanceUID == series.instances[2].sopInstanceUID)
    }

    @Test func sortsByPositionAlongTheNormalNotByInstanceNumber() throws {
        // Sagittal slices: the normal is row × column = (0,1,0) × (0,0,−1) = (−1,0,0).
        var series = Self.series(distances: [0, 3, 6, 9], row: SIMD3(0, 1, 0), column: SIMD3(0, 0, -1))
        series.instances.reverse()
        let layout = try series.stacks().primary.layout(series: "1.2.3")
        let along = layout.slices.map { dot($0.position, SIMD3(-1, 0, 0)) }
        #expect(along == along.sorted())
        #expect(layout.geometry.direction.c2 == SIMD3(-1, 0, 0))
        #expect(layout.geometry.spacing == SIMD3(0.9, 0.7, 3)) // (column, row, slice): Pixel Spacing is row\column
    }

    @Test func gantryTiltIsRefusedWhenConfigured() throws {
        let dir = TemporaryDirectory()
        var g = GeneratedSeries.ct()
        g.gantryTiltDegrees = 12
        let (_, series, _) = try GeneratedSeries.write(g, into: dir)
        var options = AssemblyOptions()
        options.tiltPolicy = .refuse
        let error = try #require(throws: VolumeError.self) { try series.assemble(options: options) }
        #expect(error.code == .gantryTilt)
        #expect(error.reason.contains("12°"))
    }

    @Test func gantryTiltIsResampledOntoDcm2niixTiltCorrectedGrid() throws {
        let dir = TemporaryDirectory()
        var g = GeneratedSeries.ct()
        g.gantryTiltDegrees = 15
        let (_, series, path) = try GeneratedSeries.write(g, into: dir)
        let assembly = try series.assemble()
        #expect(abs(assembly.layout.gantryTiltDegrees - 15) < 1e-3)
        #expect(assembly.warnings.contains { $0.code == .gantryTiltResampled })
        #expect(!assembly.warnings.contains { $0.code == .gantryTiltTagMismatch })
        let out = TemporaryDirectory()
        let theirs = try Dcm2niix.convert(path, in: out)
        let corrected = try #require(theirs["d2n_Tilt_1"])
        let grid = WorldComparison(ours: assembly.volume, theirs: corrected, valueTolerance: .infinity)
        #expect(grid.agrees, "\(grid)")

        // Values: dcm2niix 1.0.20220720 shifts each corrected slice by one slice's shear too many
        // (its corrected file differs from its own sheared file by up to 328 HU here; shifted by
        // one more slice they agree to rounding). Its uncorrected file carries the exact sheared
        // affine, so our voxels are checked against it, interpolated linearly at our voxel centres.
        let sheared = try #require(theirs["d2n"])
        let volume = assembly.volume
        var compared = 0, largest: Float = 0
        for k in 0..<volume.geometry.size.z {
            for j in 0..<volume.geometry.size.y {
                for i in 0..<volume.geometry.size.x {
                    let point = volume.geometry.patientPoint(ofIndex: SIMD3(Double(i), Double(j), Double(k)))
                    let c = Self.shearedIndex(of: point, in: sheared.geometry)
                    let along = c.y, lower = Int(along.rounded(.down))
                    guard lower >= 0, lower + 1 < sheared.geometry.size.y else { continue }
                    let si = Int(c.x.rounded()), sk = Int(c.z.rounded())
                    #expect(abs(c.x - Double(si)) < 1e-3 && abs(c.z - Double(sk)) < 1e-3)
                    let f = Float(along - Double(lower))
                    let want = sheared[si, lower, sk] * (1 - f) + sheared[si, lower + 1, sk] * f
                    largest = max(largest, abs(want - volume[i, j, k]))
                    compared += 1
                }
            }
        }
        #expect(compared > volume.geometry.voxelCount / 2)
        #expect(largest < 1e-2, "largest difference \(largest) over \(compared) voxels")
    }

    /// The continuous index of a point in a grid whose k axis is not orthogonal (dcm2niix's
    /// uncorrected tilted file): solve with the full 3×3 inverse.
    static func shearedIndex(of point: SIMD3<Double>, in geometry: Geometry) -> SIMD3<Double> {
        geometry.continuousIndex(ofPatientPoint: point)
    }

    /// A synthetic series without files: axial 4×3 slices at the given distances along the normal.
    static func series(
        distances: [Double], row: SIMD3<Double> = SIMD3(1, 0, 0),
        column: SIMD3<Double> = SIMD3(0, 1, 0)
    ) -> Series {
        let normal = cross(row, column)
        let instances = distances.enumerated().map { n, d in
            var frame = Frame(
                position: SIMD3(-10, -20, 5) + normal * d, orientation: Orientation(row: row, column: column),
                pixelSpacing: PixelSpacing(row: 0.7, column: 0.9))
            frame.acquisitionNumber = 1
            return Instance(
                path: "/nonexistent/\(n)", sopClassUID: "1.2.840.10008.5.1.4.1.1.2",
                sopInstanceUID: "1.2.3.4.\(n + 1)", studyInstanceUID: "1.2.3", seriesInstanceUID: "1.2.3.4",
                frameOfReferenceUID: "1.2.3.5", instanceNumber: n + 1, imageType: ["ORIGINAL", "PRIMARY", "AXIAL"],
                pixel: PixelDescription(
                    rows: 3, columns: 4, samplesPerPixel: 1, bitsAllocated: 16, bitsStored: 12,
                    isSigned: false, numberOfFrames: 1, photometricInterpretation: "MONOCHROME2"),
                sliceThickness: 2.5, frames: [frame], hasFunctionalGroups: false)
        }
        return Series(seriesInstanceUID: "1.2.3.4", instances: instances)
    }
}
