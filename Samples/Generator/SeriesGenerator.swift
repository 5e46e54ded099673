import DICOM
import Foundation
import SeededRandom

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
    /// Series to add the images to (several generators writing one series, e.g. two orientations
    /// in one series); nil makes a new series.
    public var seriesInstanceUID: String?
    /// Frame of Reference to share with other series of the study (a multi-sequence MR study is
    /// one frame of reference); nil makes a new one.
    public var frameOfReferenceUID: String?
    public var seriesNumber = 1
    /// Added to every Instance Number, so images of a second generator in the same series do not
    /// repeat the first one's numbers.
    public var instanceNumberOffset = 0
    /// MR acquisition attributes (PS3.3 C.8.3.1) for single-frame MR images; nil writes only
    /// Echo Numbers and Echo Time, as the original phantoms do.
    public var mrSequence: MRSequence?
    public var patientName = "Phantom^Generated"
    public var patientID = "PHANTOM001"

    // Variants that volume assembly must split, refuse or survive.
    /// Echoes per slice position, written interleaved (instance numbers slice-major, echo-minor)
    /// with Echo Numbers 1…n and Echo Times 10, 20, … ms; echo e has the phantom value × 1/(e+1).
    public var echoes = 1
    /// Slice indices not written (a series with missing slices).
    public var omittedSlices: Set<Int> = []
    /// Slice indices written twice, the copy with a new SOP Instance UID (duplicate positions).
    public var duplicatedSlices: Set<Int> = []
    /// Adds one LOCALIZER image (Image Type ORIGINAL\PRIMARY\LOCALIZER) in a plane perpendicular to
    /// the slices, as scanners put scout views in the same series.
    public var includeLocalizer = false
    /// Writes one Enhanced CT/MR Image (PS3.3 A.38/A.36) with every slice as a frame instead of
    /// single-frame files; geometry and rescale go in functional groups (C.7.6.16).
    public var multiFrame = false
    /// Multi-frame only: Rescale Slope varies by frame (slope × (1 + k mod 3)), carried in the
    /// per-frame Pixel Value Transformation group; also keeps positions per frame.
    public var perFrameRescale = false

    public init() {}

    /// The series written: its UIDs and the files in slice order (not file-name order; echoes of
    /// one slice next to each other; one file for a multi-frame series).
    public struct Written: Sendable {
        public var studyInstanceUID: String
        public var seriesInstanceUID: String
        public var frameOfReferenceUID: String
        public var files: [String]
        /// The LOCALIZER image, when `includeLocalizer` (not in `files`).
        public var localizerFile: String? = nil
    }

    public var sliceNormal: SIMD3<Double> {
        let n = SIMD3(
            rowDirection.y * columnDirection.z - rowDirection.z * columnDirection.y,
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

    /// Rescale Slope and Intercept of slice `k` (varies only with `perFrameRescale`).
    public func rescale(ofSlice k: Int) -> (slope: Double, intercept: Double) {
        (perFrameRescale ? rescaleSlope * Double(1 + k % 3) : rescaleSlope, rescaleIntercept)
    }

    /// The stored value of a pixel (before MONOCHROME1 inversion), from the phantom's value.
    func storedValue(_ value: Double, slope: Double) -> Int32 {
        let stored = ((value - rescaleIntercept) / slope).rounded()
        let lo = signed ? -Double(1 << (bitsStored - 1)) : 0
        let hi = signed ? Double((1 << (bitsStored - 1)) - 1) : Double((1 << bitsStored) - 1)
        return Int32(min(hi, max(lo, stored)))
    }

    var storedRange: (min: Int32, max: Int32) {
        (
            Int32(signed ? -(1 << (bitsStored - 1)) : 0),
            Int32(signed ? (1 << (bitsStored - 1)) - 1 : (1 << bitsStored) - 1)
        )
    }

    /// The stored values of slice `k`, echo `echo`, as written (MONOCHROME1 already inverted).
    /// Noise comes from a generator seeded per slice and echo, so any slice can be recomputed.
    public func storedPixels(slice k: Int, echo: Int = 0) -> [Int32] {
        var rng = SplitMix64(seed: seed &+ UInt64(k) &* 0x1_0000 &+ UInt64(echo))
        let (slope, _) = rescale(ofSlice: k)
        let range = storedRange
        let echoScale = 1 / Double(echo + 1)
        var pixels = [Int32](repeating: 0, count: rows * columns)
        for r in 0..<rows {
            for c in 0..<columns {
                var value = phantom.sample(point(slice: k, row: r, column: c)).value * echoScale
                value = phantom.noisy(value, using: &rng)
                var stored = storedValue(value, slope: slope)
                // MONOCHROME1: minimum stored value is displayed white (PS3.3 C.7.6.3.1.2).
                if monochrome1 { stored = range.max + range.min - stored }
                pixels[r * columns + c] = stored
            }
        }
        return pixels
    }

    /// What a correct reader makes of slice `k`: MONOCHROME1 inverted back, then rescaled
    /// (computed in Double, rounded once to Float).
    public func expectedValues(slice k: Int, echo: Int = 0) -> [Float] {
        let range = storedRange
        let (slope, intercept) = rescale(ofSlice: k)
        return storedPixels(slice: k, echo: echo).map { stored in
            let value = monochrome1 ? range.max + range.min - stored : stored
            return Float(Double(value) * slope + intercept)
        }
    }

    /// Writes the series into `directory` (created when missing).
    @discardableResult
    public func write(to directory: String) throws -> Written {
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        let uids = try UIDGenerator(root: uidRoot)
        let ids = Written(
            studyInstanceUID: studyInstanceUID ?? uids.make(), seriesInstanceUID: seriesInstanceUID ?? uids.make(),
            frameOfReferenceUID: frameOfReferenceUID ?? uids.make(), files: [])
        if multiFrame { return try writeMultiFrame(to: directory, ids: ids, uids: uids) }
        // (slice, echo) of every image file, in instance-number order.
        var images: [(slice: Int, echo: Int)] = []
        for k in 0..<slices where !omittedSlices.contains(k) {
            for e in 0..<echoes { images.append((k, e)) }
            if duplicatedSlices.contains(k) { images.append((k, 0)) }
        }
        var rng = SplitMix64(seed: seed)
        let count = images.count + (includeLocalizer ? 1 : 0)
        var names = (0..<count).map { String(format: "IM%05d.dcm", $0 + 1) }
        switch fileOrder {
        case .natural: break
        case .reversed: names.reverse()
        case .shuffled: names.shuffle(using: &rng)
        }
        var written = ids
        for (n, image) in images.enumerated() {
            let ds = try commonDataSet(ids: ids, uids: uids)
            // MR: value 3 is M (magnitude) and value 4 ND (not distortion-corrected), as MR
            // scanners write them; CT keeps AXIAL (PS3.3 C.8.2.1.1.1).
            try ds.set(.imageType, mrSequence == nil ? "ORIGINAL\\PRIMARY\\AXIAL" : "ORIGINAL\\PRIMARY\\M\\ND")
            try ds.set(.sopClassUID, modality == .ct ? "1.2.840.10008.5.1.4.1.1.2" : "1.2.840.10008.5.1.4.1.1.4")
            try ds.set(.instanceNumber, instanceNumberOffset + n + 1)
            if echoes > 1 || modality == .mr {
                try ds.set(.echoNumbers, image.echo + 1)
                try ds.set(.echoTime, (mrSequence?.echoTime ?? 10) * Double(image.echo + 1))
            }
            if modality == .mr, let mrSequence { try mrSequence.apply(to: ds, spacingBetweenSlices: sliceSpacing) }
            let p = position(ofSlice: image.slice)
            try setPlane(ds, position: p, row: rowDirection, column: columnDirection)
            try setPixels(
                ds, storedPixels(slice: image.slice, echo: image.echo), rescale: rescale(ofSlice: image.slice))
            let path = directory + "/" + names[n]
            try ds.write(to: path, transferSyntax: transferSyntax)
            written.files.append(path)
        }
        if includeLocalizer {
            let path = directory + "/" + names[count - 1]
            try writeLocalizer(to: path, instanceNumber: instanceNumberOffset + count, ids: ids, uids: uids)
            written.localizerFile = path
        }
        return written
    }

    /// Patient, study, series, frame of reference, equipment and SOP Instance UID: what every
    /// image of the series shares.
    func commonDataSet(ids: Written, uids: UIDGenerator) throws -> DataSet {
        let ds = DataSet()
        try ds.set(.specificCharacterSet, "ISO_IR 100")
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
        if modality == .ct { try ds.set(.kvp, 120) }
        try ds.set(.patientPosition, "HFS")
        // Laterality is type 2C, required for paired body parts; the MR series declare HEAD,
        // which is unpaired, so there it must be absent (PS3.3 C.7.3.1).
        if mrSequence == nil { try ds.set(.laterality, "") }
        try ds.set(.acquisitionNumber, 1)
        if gantryTiltDegrees != 0 { try ds.set(.gantryDetectorTilt, gantryTiltDegrees) }
        try ds.set(.studyInstanceUID, ids.studyInstanceUID)
        try ds.set(.seriesInstanceUID, ids.seriesInstanceUID)
        try ds.set(.studyID, "1")
        try ds.set(.seriesNumber, seriesNumber)
        try ds.set(.frameOfReferenceUID, ids.frameOfReferenceUID)
        try ds.set(.positionReferenceIndicator, "")
        return ds
    }

    /// Image Plane Module (PS3.3 C.7.6.2) of a single-frame image.
    func setPlane(_ ds: DataSet, position p: SIMD3<Double>, row: SIMD3<Double>, column: SIMD3<Double>) throws {
        try ds.set(.sliceThickness, sliceSpacing)
        try ds.set(.imagePositionPatient, [p.x, p.y, p.z])
        try ds.set(.imageOrientationPatient, [row.x, row.y, row.z, column.x, column.y, column.z])
        try ds.set(.pixelSpacing, [pixelSpacing.row, pixelSpacing.column])
    }

    /// Image Pixel Module (C.7.6.3), rescale (C.11.1) and the Pixel Data of one frame.
    func setPixels(_ ds: DataSet, _ pixels: [Int32], rescale: (slope: Double, intercept: Double)) throws {
        try setPixelModule(ds, frames: 1)
        if modality == .ct || rescale.slope != 1 || rescale.intercept != 0 {
            try ds.set(.rescaleIntercept, rescale.intercept)
            try ds.set(.rescaleSlope, rescale.slope)
            if modality == .ct { try ds.set(.rescaleType, "HU") }
        }
        let words = pixels.map { UInt16(truncatingIfNeeded: $0).littleEndian }
        try words.withUnsafeBytes { try ds.setPixelData($0, bitsAllocated: 16) }
    }

    func setPixelModule(_ ds: DataSet, frames: Int) throws {
        try ds.set(.samplesPerPixel, 1)
        try ds.set(.photometricInterpretation, monochrome1 ? "MONOCHROME1" : "MONOCHROME2")
        if frames > 1 || multiFrame { try ds.set(.numberOfFrames, frames) }
        try ds.set(.rows, rows)
        try ds.set(.columns, columns)
        try ds.set(.bitsAllocated, 16)
        try ds.set(.bitsStored, bitsStored)
        try ds.set(.highBit, bitsStored - 1)
        try ds.set(.pixelRepresentation, signed ? 1 : 0)
    }

    /// One scout image through the middle of the volume, in the plane of the row direction and
    /// the slice normal (so it is perpendicular to the slices), with the same matrix size.
    func writeLocalizer(to path: String, instanceNumber: Int, ids: Written, uids: UIDGenerator) throws {
        let ds = try commonDataSet(ids: ids, uids: uids)
        try ds.set(.imageType, "ORIGINAL\\PRIMARY\\LOCALIZER")
        try ds.set(.sopClassUID, modality == .ct ? "1.2.840.10008.5.1.4.1.1.2" : "1.2.840.10008.5.1.4.1.1.4")
        try ds.set(.instanceNumber, instanceNumber)
        let column = -sliceNormal
        let centre =
            (position(ofSlice: 0) + position(ofSlice: slices - 1)) / 2
            + columnDirection * (pixelSpacing.row * Double(rows - 1) / 2)
        let first = centre - column * (pixelSpacing.row * Double(rows - 1) / 2)
        try setPlane(ds, position: first, row: rowDirection, column: column)
        var pixels = [Int32](repeating: 0, count: rows * columns)
        for r in 0..<rows {
            for c in 0..<columns {
                let p =
                    first + rowDirection * (pixelSpacing.column * Double(c)) + column * (pixelSpacing.row * Double(r))
                pixels[r * columns + c] = storedValue(phantom.sample(p).value, slope: rescaleSlope)
            }
        }
        try setPixels(ds, pixels, rescale: (rescaleSlope, rescaleIntercept))
        try ds.write(to: path, transferSyntax: transferSyntax)
    }
}
