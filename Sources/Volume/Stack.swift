/// One frame of one instance, with everything needed to place and decode it. The SOP Instance
/// UID, SOP Class UID and frame number are what a SEG references (PS3.3 C.10.4 / C.8.20).
public struct Slice: Sendable, Codable, Hashable {
    public var path: String
    public var sopClassUID: String
    public var sopInstanceUID: String
    /// 1-based frame number in a multi-frame instance (Referenced Frame Number), nil for a
    /// single-frame instance.
    public var frameNumber: Int?
    public var instanceNumber: Int?
    public var position: SIMD3<Double>
    public var orientation: Orientation
    public var pixelSpacing: PixelSpacing
    public var rescale: Rescale
    public var pixel: PixelDescription
    public var sliceThickness: Double?
    public var spacingBetweenSlices: Double?
    /// Gantry/Detector Tilt (0018,1120) as sent, in degrees.
    public var gantryTilt: Double?

    /// 0-based frame index for decoding.
    public var frameIndex: Int { (frameNumber ?? 1) - 1 }
}

/// The values that put slices into the same stack: one Frame of Reference, one orientation and
/// pixel grid, one echo, temporal position, acquisition, b-value and enhanced Stack ID.
public struct StackKey: Sendable, Codable, Hashable, CustomStringConvertible {
    public var frameOfReferenceUID: String?
    /// The orientation of the first slice; the others are within the configured tolerance.
    public var orientation: Orientation
    public var rows: Int
    public var columns: Int
    public var pixelSpacing: PixelSpacing
    public var echoNumber: Int?
    public var echoTime: Double?
    public var temporalPosition: Int?
    public var acquisitionNumber: Int?
    public var diffusionBValue: Double?
    public var stackID: String?

    /// Equal in every value that is compared exactly.
    func sharesDiscreteValues(with other: StackKey) -> Bool {
        frameOfReferenceUID == other.frameOfReferenceUID && rows == other.rows && columns == other.columns
            && echoNumber == other.echoNumber && echoTime == other.echoTime
            && temporalPosition == other.temporalPosition && acquisitionNumber == other.acquisitionNumber
            && diffusionBValue == other.diffusionBValue && stackID == other.stackID
    }

    public var description: String {
        func f(_ v: SIMD3<Double>) -> String { "\(v.x.rounded4),\(v.y.rounded4),\(v.z.rounded4)" }
        var parts = [
            "\(columns)×\(rows)", "spacing \(pixelSpacing.row.rounded4)/\(pixelSpacing.column.rounded4)",
            "orientation \(f(orientation.row))/\(f(orientation.column))"
        ]
        if let echoNumber { parts.append("echo \(echoNumber)") }
        if let echoTime { parts.append("TE \(echoTime.rounded4)") }
        if let temporalPosition { parts.append("temporal \(temporalPosition)") }
        if let acquisitionNumber { parts.append("acquisition \(acquisitionNumber)") }
        if let diffusionBValue { parts.append("b \(diffusionBValue.rounded4)") }
        if let stackID { parts.append("stack \(stackID)") }
        return parts.joined(separator: ", ")
    }
}

/// Slices that can form one volume (not yet sorted or checked: see `Stack.layout`).
public struct Stack: Sendable, Codable {
    public var key: StackKey
    public var slices: [Slice]

    /// Slice count and key, for reports.
    public var summary: String { "\(slices.count) slice(s): \(key)" }
}

/// The stacks of a series: the one to assemble, the others found, and what was left out.
public struct StackSelection: Sendable, Codable {
    public var seriesInstanceUID: String
    public var primary: Stack
    /// Other stacks, largest first (echoes, temporal positions, other orientations…).
    public var others: [Stack]
    public var excluded: [Exclusion]

    /// An instance (or frame) kept out of every stack, and why.
    public struct Exclusion: Sendable, Codable, Equatable {
        public var sopInstanceUID: String
        public var frameNumber: Int?
        public var reason: String
    }
}

extension Double {
    /// Rounded to 4 decimals and printed without trailing zeros, for messages about geometry.
    public var rounded4: String {
        let v = (self * 10000).rounded() / 10000
        return v == v.rounded() && abs(v) < 1e15 ? String(Int(v)) : String(v)
    }
}
