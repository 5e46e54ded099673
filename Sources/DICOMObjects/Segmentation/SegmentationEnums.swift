import DICOM

/// Segmentation Type (0062,0001), PS3.3 C.8.20.2. Only `binary` is written: DCMTK 3.6.7's
/// dcmseg has no LABELMAP (added to the standard by Sup 243 after 3.6.7 was released), and
/// FRACTIONAL needs probabilities the label-map input does not carry.
public enum SegmentationType: String, Sendable {
    case binary = "BINARY"
    case fractional = "FRACTIONAL"
    case labelmap = "LABELMAP"
}

/// Segment Algorithm Type (0062,0008), PS3.3 C.8.20.2.3.
public enum SegmentAlgorithmType: String, Sendable {
    case automatic = "AUTOMATIC"
    case semiautomatic = "SEMIAUTOMATIC"
    case manual = "MANUAL"
}
