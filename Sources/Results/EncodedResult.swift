import DICOMObjects
import Foundation

/// What ``ResultEncoder`` wrote: the files with the UIDs the outbox and the PACS know them by,
/// and the measured segments.
public struct EncodedResult: Sendable {
    /// SEG first (when there is one), then SR, then the other kinds asked for in ``EncodedObject/Kind``
    /// order (a Secondary Capture series is one object per image).
    public var objects: [EncodedObject]
    /// Per SEG segment, its voxel count and volume; empty for reports without a SEG.
    public var segments: [SegmentVolume]
    /// Objects asked for that this source cannot have, each with the reason (e.g. an RT
    /// Structure Set of a multi-frame source); the rest of the result stands.
    public var notWritten: [String] = []
    /// Seconds spent on each kind of object (``EncodedObject/Kind`` raw value: all Secondary
    /// Capture images together) and on tracing the outlines the views share ("outlines").
    public var timings: [String: Double] = [:]
}

/// Seconds since `start`, for ``EncodedResult/timings``.
func seconds(since start: ContinuousClock.Instant) -> Double {
    let d = ContinuousClock.now - start
    return Double(d.components.seconds) + Double(d.components.attoseconds) / 1e18
}

/// One written DICOM object.
public struct EncodedObject: Sendable, Hashable {
    /// In Series Number order (``SeriesNumbers``).
    public enum Kind: String, Sendable, CaseIterable {
        case segmentation = "SEG"
        case report = "SR"
        case structureSet = "RTSTRUCT"
        case presentationState = "GSPS"
        case secondaryCapture = "SC"
        case keyObjects = "KO"
    }

    public var kind: Kind
    public var path: String
    public var sopClassUID: String
    public var sopInstanceUID: String
    public var seriesInstanceUID: String
    public var seriesNumber: Int
}

extension EncodedObject {
    /// The object written at `path` as instance `series.sopInstanceUID` of `series`.
    init(kind: Kind, path: String, sopClassUID: String, series: SeriesIdentity) {
        self.init(
            kind: kind, path: path, sopClassUID: sopClassUID, sopInstanceUID: series.sopInstanceUID,
            seriesInstanceUID: series.seriesInstanceUID, seriesNumber: series.seriesNumber)
    }
}

/// The size of one SEG segment: voxels on the source grid × voxel volume.
public struct SegmentVolume: Sendable, Hashable {
    public var segmentNumber: Int
    public var label: String
    public var voxelCount: Int
    public var cubicMillimetres: Double

    /// Millilitres (1 mL = 1000 mm³).
    public var millilitres: Double { cubicMillimetres / 1000 }
}

extension EncodedObject.Kind {
    /// The name the configuration (`destinations[].outputs`) and the command line (`--outputs`) use.
    public var outputName: String {
        switch self {
        case .segmentation: "seg"
        case .report: "sr"
        case .structureSet: "rtstruct"
        case .presentationState: "gsps"
        case .secondaryCapture: "sc"
        case .keyObjects: "ko"
        }
    }

    public init?(outputName: String) {
        guard let kind = Self.allCases.first(where: { $0.outputName == outputName }) else { return nil }
        self = kind
    }

    /// Parses "seg,sr,rtstruct": at least one known name.
    public static func parseList(_ text: String) throws(ResultsError) -> Set<Self> {
        let names = text.split(separator: ",").map { $0.trimmingCharacters(in: .whitespaces) }
        guard !names.isEmpty else { throw ResultsError(.manifest, "no output named", field: "outputs") }
        var kinds = Set<Self>()
        for name in names {
            guard let kind = Self(outputName: name) else {
                let known = allCases.map(\.outputName).joined(separator: ", ")
                throw ResultsError(.manifest, "'\(name)' is not an output (\(known))", field: "outputs")
            }
            kinds.insert(kind)
        }
        return kinds
    }
}
