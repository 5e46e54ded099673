import DICOM

/// A DIMSE status code (PS3.7 Annex C), with the C-STORE meanings of PS3.4 B.2.3.
public struct DIMSEStatus: Hashable, Sendable, CustomStringConvertible {
    public let rawValue: UInt16

    public init(_ rawValue: UInt16) { self.rawValue = rawValue }

    public static let success = DIMSEStatus(0x0000)
    /// PS3.4 B.2.3 "Refused: Out of Resources" (A7xx): we could not keep the instance.
    public static let outOfResources = DIMSEStatus(0xA700)
    /// PS3.4 B.2.3 "Error: Data Set does not match SOP Class" (A9xx).
    public static let dataSetDoesNotMatchSOPClass = DIMSEStatus(0xA900)
    /// PS3.4 B.2.3 "Error: Cannot understand" (Cxxx).
    public static let cannotUnderstand = DIMSEStatus(0xC000)

    /// PS3.7 C.1: 0000 success; 0001 and Bxxx warnings; FF00/FF01 pending; FE00 cancel; the rest failures.
    public var isSuccess: Bool { rawValue == 0x0000 }
    public var isWarning: Bool {
        rawValue == 0x0001 || rawValue & 0xF000 == 0xB000 || rawValue == 0x0107 || rawValue == 0x0116
    }
    public var isFailure: Bool { !isSuccess && !isWarning && rawValue != 0xFF00 && rawValue != 0xFF01 }

    public var description: String {
        let hex = String(rawValue, radix: 16, uppercase: true)
        let code = "0x" + String(repeating: "0", count: 4 - hex.count) + hex
        return "\(code) (\(meaning))"
    }

    private var meaning: String {
        switch rawValue {
        case 0x0000: return "Success"
        case 0x0122: return "Refused: SOP Class not supported"
        case 0x0124: return "Refused: not authorized"
        case 0x0210: return "Failure: duplicate invocation"
        case 0x0211: return "Failure: unrecognized operation"
        case 0x0212: return "Failure: mistyped argument"
        case 0xB000: return "Warning: coercion of data elements"
        case 0xB006: return "Warning: elements discarded"
        case 0xB007: return "Warning: data set does not match SOP Class"
        case 0xFE00: return "Cancel"
        default: break
        }
        switch rawValue & 0xFF00 {
        case 0xA700: return "Refused: out of resources"
        case 0xA900: return "Error: data set does not match SOP Class"
        default: break
        }
        if rawValue & 0xF000 == 0xC000 { return "Error: cannot understand" }
        if isWarning { return "Warning" }
        return "Failure"
    }
}
