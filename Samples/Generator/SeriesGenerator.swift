import DICOM
import Foundation

/// Writes single-frame CT or MR series of an analytic `Phantom` with any geometry, for tests, the
/// demo and benchmarks. Every attribute a modality sends for geometry and pixel interpretation is
/// set, so that volume assembly can be checked against the phantom and against dcm2niix.
public struct SeriesGenerator: Sendable {
    public enum Modality: String, Sendable { case ct = "CT", mr = "MR" }
    public enum FileOrder: Sendable { case natural, reversed, shuffled }

    public var modality: Modality = .ct
    public var rows = 64
    public var columns = 64
    public var slices = 32
    /// (row spacing, column spacing) in mm — the DICOM order of Pixel Spacing (PS3.3 C.7.6.2.1.1).
    public var pixelSpacing: (row: Double, column: Double) = (3, 3)
    public var sliceSpacing: Double = 3
    /// Direction cosines of a row (first three of Image Orientation) and of a column.
    public var rowDirection = SIMD3<Double>(1, 0, 0)
    public var columnDirection = SIMD3<Double>(0, 1, 0)
    /// Patient position of the first voxel of the first slice; nil centres the volume on the origin.
    public var origin: SIMD3<Double>?
    /// Gantry tilt in degrees: slice positions shift along the column direction (CT only).
    public var gantryTiltDegrees: Double = 0
    public var bitsStored = 16
    public var signed = true
    public var rescaleIntercept: Double = 0
    public var rescaleSlope: Double = 1
    public var monochrome1 = false
    public var transferSyntax: TransferSyntax = .explicitVRLittleEndian
    public var fileOrder: FileOrder = .natural
    public var seriesDescription = "Generated phantom"
    public var phantom: Phantom = .abdomenCT()
    public var seed: UInt64 = 1
    public var uidRoot: String? = nil
    /// Study to add the series to; nil makes a new study.
    public var studyInstanceUID: String?
    public var patientName = "Phantom^Generated"
    public var patientID = "PHANTOM001"

    public init() {}

    /// The series written: its UIDs and the files in slice order (not file-name order).
    public struct Written: Sendable {
        public var studyInstanceUID: String
        public var seriesInstanceUID: String
        public var frameOfReferenceUID: String
        public var files: [String]
    }

    public var sliceNormal: SIMD3<Double> {
        let n = SIMD3(rowDirection.y * columnDirection.z - rowDirection.z * columnDirection.y,
                      rowDirection.z * columnDirection.x - rowDirection.x * columnDirection.z,
                      rowDirection.x * columnDirection.y - rowDirection.y * columnDirection.x)
        return n / (n * n).sum().squareRoot()
    }

    /// Image Position (Patient) of slice `k`.
    public func position(ofSlice k: Int) -> SIMD3<Double> {
        let alongRow: SIMD3<Double> = rowDirection * (pixelSpacing.column * Double(columns - 1))
        let alongColumn: SIMD3<Double> = columnDirection * (pixelSpacing.row * Double(rows - 1))
        let alongNormal: SIMD3<Double> = sliceNormal * (sliceSpacing * Double(slices - 1))
        let start: SIMD3<Double> = origin ?? (alongRow + alongColumn + alongNormal) * -0.5
        let tiltShift: Double = tan(gantryTiltDegrees * .pi / 180) * sliceSpacing * Double(k)
        let step: SIMD3<Double> = sliceNormal * (sliceSpacing * Double(k))
        return start + step + columnDirection * tiltShift
    }

    /// Patient position of pixel (row r, column c) of slice k (PS3.3 C.7.6.2.1.1, equation C.7.6.2.1-1).
    public func point(slice k: Int, row r: Int, column c: Int) -> SIMD3<Double> {
        let alongRow: SIMD3<Double> = rowDirection * (pixelSpacing.column * Double(c))
        let alongColumn: SIMD3<Double> = columnDirection * (pixelSpacing.row * Double(r))
        return position(ofSlice: k) + alongRow + alongColumn
    }

    /// The ground-truth label of every voxel, slice-major then row then column.
    public func labels() -> [UInt8] {
        var out = [UInt8](repeating: 0, count: slices * rows * columns)
        for k in 0..<slices {
            for r in 0..<rows {
                for c in 0..<columns {
                    out[(k * rows + r) * columns + c] = UInt8(phantom.sample(point(slice: k, row: r, column: c)).label)
                }
            }
        }
        return out
    }

    /// The stored value of a pixel (before MONOCHROME1 inversion), from the phantom's value.
    func storedValue(_ value: Double) -> Int32 {
        let stored = ((value - rescaleIntercept) / rescaleSlope).rounded()
        let lo = signed ? -Double(1 << (bitsStored - 1)) : 0
        let hi = signed ? Double((1 << (bitsStored - 1)) - 1) : Double((1 << bitsStored) - 1)
        return Int32(min(hi, max(lo, stored)))
    }

    /// Writes the series into `directory` (created when missing).
    @discardableResult
    public func write(to directory: String) throws -> Written {
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        let uids = try UIDGenerator(root: uidRoot)
        let study = studyInstanceUID ?? uids.make()
        let series = uids.make()
        let frameOfReference = uids.make()
        var rng = SplitMix64(seed: seed)
        var names = (0..<slices).map { String(format: "IM%05d.dcm", $0 + 1) }
        switch fileOrder {
        case .natural: break
        case .reversed: names.reverse()
        case .shuffled: names.shuffle(using: &rng)
        }
        var files: [String] = []
        let maxStored = Int32(signed ? (1 << (bitsStored - 1)) - 1 : (1 << bitsStored) - 1)
        let minStored = Int32(signed ? -(1 << (bitsStored - 1)) : 0)
        for k in 0..<slices {
            var pixels = [Int32](repeating: 0, count: rows * columns)
            for r in 0..<rows {
                for c in 0..<columns {
                    var value = phantom.sample(point(slice: k, row: r, column: c)).value
                    if phantom.noise > 0 { value += (Double(rng.next() % 2001) / 1000 - 1) * phantom.noise }
                    var stored = storedValue(value)
                    // MONOCHROME1: minimum stored value is displayed white (PS3.3 C.7.6.3.1.2).
                    if monochrome1 { stored = maxStored + minStored - stored }
                    pixels[r * columns + c] = stored
                }
            }
            let ds = DataSet()
            let isCT = modality == .ct
            try ds.set(.specificCharacterSet, "ISO_IR 100")
            try ds.set(.imageType, "ORIGINAL\\PRIMARY\\AXIAL")
            try ds.set(.sopClassUID, isCT ? "1.2.840.10008.5.1.4.1.1.2" : "1.2.840.10008.5.1.4.1.1.4")
            try ds.set(.sopInstanceUID, uids.make())
            try ds.set(.studyDate, "20260101")
            try ds.set(.studyTime, "120000")
            try ds.set(.accessionNumber, "ACC0001")
            try ds.set(.modality, modality.rawValue)
            try ds.set(.manufacturer, "MambaNode phantom generator")
            try ds.set(.referringPhysicianName, "")
            try ds.set(.seriesDescription, seriesDescription)
            try ds.set(.patientName, patientName)
            try ds.set(.patientID, patientID)
            try ds.set(.patientBirthDate, "19700101")
            try ds.set(.patientSex, "O")
            try ds.set(.sliceThickness, sliceSpacing)
            if isCT { try ds.set(.kvp, 120) }
            try ds.set(.patientPosition, "HFS")
            try ds.set(.laterality, "")
            try ds.set(.acquisitionNumber, 1)
            if gantryTiltDegrees != 0 { try ds.set(.gantryDetectorTilt, gantryTiltDegrees) }
            try ds.set(.studyInstanceUID, study)
            try ds.set(.seriesInstanceUID, series)
            try ds.set(.studyID, "1")
            try ds.set(.seriesNumber, 1)
            try ds.set(.instanceNumber, k + 1)
            let p = position(ofSlice: k)
            try ds.set(.imagePositionPatient, [p.x, p.y, p.z])
            try ds.set(.imageOrientationPatient, [rowDirection.x, rowDirection.y, rowDirection.z,
                                                  columnDirection.x, columnDirection.y, columnDirection.z])
            try ds.set(.frameOfReferenceUID, frameOfReference)
            try ds.set(.positionReferenceIndicator, "")
            try ds.set(.samplesPerPixel, 1)
            try ds.set(.photometricInterpretation, monochrome1 ? "MONOCHROME1" : "MONOCHROME2")
            try ds.set(.rows, rows)
            try ds.set(.columns, columns)
            try ds.set(.pixelSpacing, [pixelSpacing.row, pixelSpacing.column])
            try ds.set(.bitsAllocated, 16)
            try ds.set(.bitsStored, bitsStored)
            try ds.set(.highBit, bitsStored - 1)
            try ds.set(.pixelRepresentation, signed ? 1 : 0)
            if isCT || rescaleSlope != 1 || rescaleIntercept != 0 {
                try ds.set(.rescaleIntercept, rescaleIntercept)
                try ds.set(.rescaleSlope, rescaleSlope)
                if isCT { try ds.set(.rescaleType, "HU") }
            }
            let words = pixels.map { UInt16(truncatingIfNeeded: $0).littleEndian }
            try words.withUnsafeBytes { try ds.setPixelData($0, bitsAllocated: 16) }
            let path = directory + "/" + names[k]
            try ds.write(to: path, transferSyntax: transferSyntax)
            files.append(path)
        }
        return Written(studyInstanceUID: study, seriesInstanceUID: series, frameOfReferenceUID: frameOfReference, files: files)
    }
}

/// A small deterministic PRNG so generated data are identical on every run.
public struct SplitMix64: RandomNumberGenerator, Sendable {
    private var state: UInt64
    public init(seed: UInt64) { state = seed }
    public mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }
}
