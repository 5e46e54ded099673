import DICOM
import Foundation
@_exported import SampleGenerator
import SeededRandom

/// Small synthetic single-frame images written with our own writer, for codec and I/O tests.
public enum SyntheticImage {
    /// A 16-bit signed CT-like slice (Bits Stored 16, Rescale Intercept 0) with a smooth body,
    /// air at −1000 and a bright bone ring, plus deterministic noise. Values span −1024…3000.
    public static func ctSlice(
        rows: Int = 64, columns: Int = 80, bitsStored: Int = 16, signed: Bool = true,
        seed: UInt64 = 1
    ) -> [Int32] {
        var rng = SplitMix64(seed: seed)
        var values = [Int32](repeating: 0, count: rows * columns)
        let maxValue = (1 << (signed ? bitsStored - 1 : bitsStored)) - 1
        for r in 0..<rows {
            for c in 0..<columns {
                let y = (Double(r) - Double(rows) / 2) / Double(rows) * 2
                let x = (Double(c) - Double(columns) / 2) / Double(columns) * 2
                let d = (x * x + y * y).squareRoot()
                var v: Double = d > 0.9 ? -1000 : (d > 0.75 ? 1200 + 800 * x : 40 + 30 * y)
                v += Double(Int(rng.next() % 41) - 20)
                if !signed { v += 1024 }
                values[r * columns + c] = Int32(max(signed ? -1024 : 0, min(Double(maxValue), v)))
            }
        }
        return values
    }

    /// An 8-bit MR-like slice: a bright ellipse with a gradient and noise on a dark background.
    public static func mrSlice(rows: Int = 64, columns: Int = 64, seed: UInt64 = 2) -> [Int32] {
        var rng = SplitMix64(seed: seed)
        var values = [Int32](repeating: 0, count: rows * columns)
        for r in 0..<rows {
            for c in 0..<columns {
                let y = (Double(r) - Double(rows) / 2) / Double(rows) * 2.4
                let x = (Double(c) - Double(columns) / 2) / Double(columns) * 2
                let inside = x * x + y * y < 0.8
                let v = (inside ? 150 + 60 * x : 10) + Double(rng.next() % 9)
                values[r * columns + c] = Int32(max(0, min(255, v)))
            }
        }
        return values
    }

    /// Writes a single-frame monochrome image with the minimum attributes of a CT or MR image.
    public static func write(
        _ values: [Int32], rows: Int, columns: Int, bitsAllocated: Int, bitsStored: Int,
        signed: Bool, modality: String, to path: String,
        transferSyntax: TransferSyntax = .explicitVRLittleEndian,
        uids: UIDGenerator = try! UIDGenerator()
    ) throws {
        let ds = DataSet()
        let sopClass = modality == "CT" ? "1.2.840.10008.5.1.4.1.1.2" : "1.2.840.10008.5.1.4.1.1.4"
        try ds.set(.sopClassUID, sopClass)
        try ds.set(.sopInstanceUID, uids.make())
        try ds.set(.studyInstanceUID, uids.make())
        try ds.set(.seriesInstanceUID, uids.make())
        try ds.set(.frameOfReferenceUID, uids.make())
        try ds.set(.modality, modality)
        try ds.set(.patientName, "Synthetic^Codec")
        try ds.set(.patientID, "SYN0001")
        try ds.set(.instanceNumber, 1)
        try ds.set(.imagePositionPatient, [-100, -100, 0])
        try ds.set(.imageOrientationPatient, [1, 0, 0, 0, 1, 0])
        try ds.set(.pixelSpacing, [0.7, 0.9])
        try ds.set(.sliceThickness, 1.5)
        try ds.set(.samplesPerPixel, 1)
        try ds.set(.photometricInterpretation, "MONOCHROME2")
        try ds.set(.rows, rows)
        try ds.set(.columns, columns)
        try ds.set(.bitsAllocated, bitsAllocated)
        try ds.set(.bitsStored, bitsStored)
        try ds.set(.highBit, bitsStored - 1)
        try ds.set(.pixelRepresentation, signed ? 1 : 0)
        if modality == "CT" {
            try ds.set(.rescaleIntercept, 0)
            try ds.set(.rescaleSlope, 1)
        }
        if bitsAllocated == 8 {
            let bytes = values.map { UInt8(truncatingIfNeeded: $0) }
            try bytes.withUnsafeBytes { try ds.setPixelData($0, bitsAllocated: 8) }
        } else {
            let words = values.map { UInt16(truncatingIfNeeded: $0).littleEndian }
            try words.withUnsafeBytes { try ds.setPixelData($0, bitsAllocated: 16) }
        }
        try ds.write(to: path, transferSyntax: transferSyntax)
    }
}
