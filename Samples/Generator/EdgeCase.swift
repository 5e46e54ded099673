import DICOM
import Foundation
import Volume

/// The series variants volume assembly must get right, refuse or warn about
/// (docs/volume-reconstruction.md), each written by the generator from the fixed phantoms with what
/// assembly should make of it. The names are the `mambanode samples edge --case` values.
public enum EdgeCase: String, Sendable, CaseIterable {
    case axialCT = "axial-ct"
    case sagittalMR = "sagittal-mr"
    case coronalMR = "coronal-mr"
    case doubleObliqueMR = "double-oblique-mr"
    case reversedOrder = "reversed-order"
    case shuffledFiles = "shuffled-files"
    case nonSquarePixels = "non-square-pixels"
    case unsigned12Bit = "unsigned-12bit"
    case monochrome1
    case gantryTilt = "gantry-tilt"
    case enhancedCT = "enhanced-ct"
    case enhancedMR = "enhanced-mr"
    case perFrameRescale = "per-frame-rescale"
    case twoEchoes = "two-echoes"
    case localizer
    case missingSlice = "missing-slice"
    case duplicatePosition = "duplicate-position"
    case mixedOrientation = "mixed-orientation"
    case singleSlice = "single-slice"

    /// What `mambanode volume` (default options) should make of the case.
    public enum Expectation: Sendable, Equatable, CustomStringConvertible {
        /// A volume, with exactly these warnings.
        case assembles(warnings: Set<VolumeWarning.Code>)
        /// A typed error.
        case refused(VolumeError.Code)

        public var description: String {
            switch self {
            case .assembles(let warnings) where warnings.isEmpty: "assembles"
            case .assembles(let warnings):
                "assembles with warning " + warnings.map(\.rawValue).sorted().joined(separator: ", ")
            case .refused(let code): "refused: \(code.rawValue)"
            }
        }
    }

    public var summary: String {
        switch self {
        case .axialCT: "axial CT, signed, Rescale Intercept −1024"
        case .sagittalMR: "sagittal MR"
        case .coronalMR: "coronal MR"
        case .doubleObliqueMR: "MR tilted about two axes (double oblique)"
        case .reversedOrder: "instance numbers running against the slice normal"
        case .shuffledFiles: "file names in random order"
        case .nonSquarePixels: "Pixel Spacing 2.8 mm between rows, 3.6 mm between columns"
        case .unsigned12Bit: "unsigned, Bits Stored 12, Rescale Intercept −1024"
        case .monochrome1: "MONOCHROME1 (minimum is white)"
        case .gantryTilt: "CT with 15° gantry tilt (sheared slice track)"
        case .enhancedCT: "one Enhanced CT Image, slices as frames"
        case .enhancedMR: "one Enhanced MR Image, slices as frames"
        case .perFrameRescale: "Enhanced CT with Rescale Slope varying per frame"
        case .twoEchoes: "MR with two interleaved echoes at every position"
        case .localizer: "a LOCALIZER image mixed into the series"
        case .missingSlice: "one slice left out"
        case .duplicatePosition: "one position written twice (new SOP Instance UID)"
        case .mixedOrientation: "three single slices, axial, sagittal and coronal, in one series"
        case .singleSlice: "a series of one slice"
        }
    }

    public var expectation: Expectation {
        switch self {
        case .gantryTilt: .assembles(warnings: [.gantryTiltResampled])
        case .twoEchoes: .assembles(warnings: [.additionalStacks])
        case .localizer: .assembles(warnings: [.excludedInstances])
        case .missingSlice: .refused(.missingSlice)
        case .duplicatePosition: .refused(.duplicatePosition)
        case .mixedOrientation: .refused(.mixedOrientation)
        case .singleSlice: .refused(.singleSlice)
        default: .assembles(warnings: [])
        }
    }

    /// The generator of the case, from a small CT (`seed` drives the noise).
    public func generator(seed: UInt64 = 1) -> SeriesGenerator {
        var g = SeriesGenerator()
        g.rows = 56
        g.columns = 64
        g.slices = 20
        g.pixelSpacing = (4, 4)
        g.sliceSpacing = 5
        g.rescaleIntercept = -1024
        g.phantom = .abdomenCT(size: 180)
        g.seed = seed
        g.seriesDescription = "Edge case \(rawValue)"
        func mr(_ g: inout SeriesGenerator) {
            g.modality = .mr
            g.rescaleIntercept = 0
            g.signed = false
            g.bitsStored = 12
            g.phantom = .headMR(size: 180)
            // A 2D spin echo's MR Image Module, so the single-frame files pass dciodvfy.
            g.mrSequence = .t2
        }
        switch self {
        case .axialCT, .reversedOrder, .shuffledFiles, .missingSlice, .duplicatePosition, .singleSlice, .localizer:
            break
        case .sagittalMR:
            mr(&g)
            (g.rowDirection, g.columnDirection) = SeriesGrid.Orientation.sagittal.directions
        case .coronalMR:
            mr(&g)
            (g.rowDirection, g.columnDirection) = SeriesGrid.Orientation.coronal.directions
        case .doubleObliqueMR:
            mr(&g)
            let r = AbdomenPhantom.rotation(degrees: SIMD3(12, -18, 0))
            (g.rowDirection, g.columnDirection) = (r * SIMD3(1, 0, 0), r * SIMD3(0, 1, 0))
        case .nonSquarePixels: g.pixelSpacing = (2.8, 3.6)
        case .unsigned12Bit:
            g.signed = false
            g.bitsStored = 12
        case .monochrome1: g.monochrome1 = true
        case .gantryTilt: g.gantryTiltDegrees = 15
        case .enhancedCT: g.multiFrame = true
        case .enhancedMR:
            mr(&g)
            g.multiFrame = true
        case .perFrameRescale:
            g.multiFrame = true
            g.perFrameRescale = true
        case .twoEchoes:
            mr(&g)
            g.echoes = 2
        case .mixedOrientation: g.slices = 1
        }
        switch self {
        case .reversedOrder: g.fileOrder = .reversed
        case .shuffledFiles: g.fileOrder = .shuffled
        case .missingSlice: g.omittedSlices = [g.slices / 2]
        case .duplicatePosition: g.duplicatedSlices = [g.slices / 2]
        case .singleSlice: g.slices = 1
        case .localizer: g.includeLocalizer = true
        default: break
        }
        return g
    }

    /// Writes the case into `directory`; returns what was written (three single-slice series
    /// parts for `mixedOrientation`, in subfolders, sharing one Series Instance UID).
    @discardableResult
    public func write(
        to directory: String, seed: UInt64 = 1, transferSyntax: TransferSyntax = .explicitVRLittleEndian
    )
        throws -> [SeriesGenerator.Written]
    {
        var g = generator(seed: seed)
        g.transferSyntax = transferSyntax
        guard self == .mixedOrientation else { return [try g.write(to: directory)] }
        // One Series Instance UID and Frame of Reference for all three, as a scanner that mixes
        // planes in a series sends them (pydicom's MR700 is such a series).
        let uids = try UIDGenerator(root: g.uidRoot)
        g.studyInstanceUID = uids.make()
        g.seriesInstanceUID = uids.make()
        g.frameOfReferenceUID = uids.make()
        var written: [SeriesGenerator.Written] = []
        for (n, plane) in SeriesGrid.Orientation.allCases.enumerated() {
            (g.rowDirection, g.columnDirection) = plane.directions
            g.instanceNumberOffset = n
            written.append(try g.write(to: directory + "/" + plane.rawValue))
        }
        return written
    }
}
