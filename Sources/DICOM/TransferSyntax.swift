/// The transfer syntaxes MambaNode reads, accepts on the network and can write (PS3.5 §10, PS3.6 Annex A).
public struct TransferSyntax: Hashable, Sendable, CustomStringConvertible {
    public let uid: String

    public init(uid: String) { self.uid = uid }

    public static let implicitVRLittleEndian = TransferSyntax(uid: "1.2.840.10008.1.2")
    public static let explicitVRLittleEndian = TransferSyntax(uid: "1.2.840.10008.1.2.1")
    public static let deflatedExplicitVRLittleEndian = TransferSyntax(uid: "1.2.840.10008.1.2.1.99")
    public static let explicitVRBigEndian = TransferSyntax(uid: "1.2.840.10008.1.2.2")
    public static let jpegBaseline = TransferSyntax(uid: "1.2.840.10008.1.2.4.50")
    public static let jpegExtended = TransferSyntax(uid: "1.2.840.10008.1.2.4.51")
    public static let jpegLossless = TransferSyntax(uid: "1.2.840.10008.1.2.4.57")
    public static let jpegLosslessSV1 = TransferSyntax(uid: "1.2.840.10008.1.2.4.70")
    public static let jpegLSLossless = TransferSyntax(uid: "1.2.840.10008.1.2.4.80")
    public static let jpegLSNearLossless = TransferSyntax(uid: "1.2.840.10008.1.2.4.81")
    public static let jpeg2000Lossless = TransferSyntax(uid: "1.2.840.10008.1.2.4.90")
    public static let jpeg2000 = TransferSyntax(uid: "1.2.840.10008.1.2.4.91")
    public static let rleLossless = TransferSyntax(uid: "1.2.840.10008.1.2.5")

    /// Every syntax the decoder handles, in the order the SCP prefers them.
    public static let supported: [TransferSyntax] = [
        .explicitVRLittleEndian, .implicitVRLittleEndian, .deflatedExplicitVRLittleEndian, .explicitVRBigEndian,
        .jpegLosslessSV1, .jpegLossless, .jpegLSLossless, .jpeg2000Lossless, .rleLossless,
        .jpegBaseline, .jpegExtended, .jpegLSNearLossless, .jpeg2000
    ]

    public var isEncapsulated: Bool {
        uid.hasPrefix("1.2.840.10008.1.2.4.") || uid == TransferSyntax.rleLossless.uid
    }

    /// Whether decoding gives back exactly the encoded values.
    public var isLossless: Bool {
        ![TransferSyntax.jpegBaseline, .jpegExtended, .jpegLSNearLossless, .jpeg2000].contains(self)
    }

    public var name: String {
        switch self {
        case .implicitVRLittleEndian: "Implicit VR Little Endian"
        case .explicitVRLittleEndian: "Explicit VR Little Endian"
        case .deflatedExplicitVRLittleEndian: "Deflated Explicit VR Little Endian"
        case .explicitVRBigEndian: "Explicit VR Big Endian"
        case .jpegBaseline: "JPEG Baseline (Process 1)"
        case .jpegExtended: "JPEG Extended (Process 2 & 4)"
        case .jpegLossless: "JPEG Lossless (Process 14)"
        case .jpegLosslessSV1: "JPEG Lossless SV1 (Process 14, Selection Value 1)"
        case .jpegLSLossless: "JPEG-LS Lossless"
        case .jpegLSNearLossless: "JPEG-LS Near-Lossless"
        case .jpeg2000Lossless: "JPEG 2000 Lossless"
        case .jpeg2000: "JPEG 2000"
        case .rleLossless: "RLE Lossless"
        default: uid
        }
    }

    public var description: String { name }
}
