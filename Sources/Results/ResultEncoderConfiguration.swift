import DICOM
import DICOMObjects

/// What the node says about itself and how it numbers and names the series it produces. Passed
/// by value to ``ResultEncoder``; every field but the two identities has a default.
///
/// Series numbers: version v of a result gets SEG Series Number `firstSeriesNumber +
/// seriesNumberStep × (v − 1)`, SR that number + 1, RT Structure Set + 2, presentation state + 3,
/// Secondary Capture + 4 and Key Objects + 5 (``SeriesNumbers``), so a re-processed
/// series (an instance arriving after processing re-opens it: docs/node-behaviour.md, Series
/// completion) lands in a new series with a higher number.
public struct ResultEncoderConfiguration: Sendable {
    /// General and Enhanced General Equipment of the SEG and SR (PS3.3 C.7.5.1, C.7.5.2).
    public var equipment: EquipmentIdentity
    /// The device observer of the report (TID 1004): the node's UID and name.
    public var observer: DeviceObserver
    /// Series Number of version 1's SEG (default 900).
    public var firstSeriesNumber = 900
    /// How far each result version moves the series numbers (default 100: room for every model
    /// of a route, ten numbers each).
    public var seriesNumberStep = 100
    /// Series Description of the RT Structure Set; nil: "<model name> structures".
    public var structureSetDescription: String?
    /// Series Description of the SEG; nil: "<model name> segmentation".
    public var segmentationDescription: String?
    /// Series Description of the SR; nil: "<model name> report".
    public var reportDescription: String?
    /// Content Label (0070,0080) of the SEG: a Code String, A–Z, 0–9, space and `_`.
    public var contentLabel = "AI_SEGMENTATION"
    /// Content Creator's Name (0070,0084), a Person Name.
    public var contentCreator = "MambaNode"
    /// Leave out SEG frames in which a segment has no voxel (PS3.3 C.8.20.2 allows it).
    public var omitEmptyFrames = true
    /// Secondary Capture overlays: an image of every source slice (true) or only of the slices
    /// that show a segment or landmark (false, the default).
    public var overlayAllSlices = false
    /// Opacity (0…1) of the segments' fill in the overlays; 0 draws outlines only.
    public var overlayFillOpacity = 0.0
    /// The font of the overlays' text.
    public var overlayFontPath = "/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf"

    public init(equipment: EquipmentIdentity, observer: DeviceObserver) {
        self.equipment = equipment
        self.observer = observer
    }

    /// The Series Numbers of result `version` (1, 2, …).
    func seriesNumbers(version: Int) throws(ResultsError) -> SeriesNumbers {
        let (offset, overflow1) = (version - 1).multipliedReportingOverflow(by: seriesNumberStep)
        let (number, overflow2) = firstSeriesNumber.addingReportingOverflow(offset)
        // Series Number is IS: 0…2^31 − 1 here (SeriesIdentity checks the same range).
        guard version >= 1, !overflow1, !overflow2, number >= 0, number < Int(Int32.max) - SeriesNumbers.count else {
            throw ResultsError(
                .encoding,
                "version \(version) gives no Series Number within 0…2147483646 "
                    + "(first \(firstSeriesNumber), step \(seriesNumberStep))", tag: .seriesNumber)
        }
        return SeriesNumbers(first: number)
    }
}

/// The Series Numbers of one result version: SEG first, then one higher for each other kind of
/// object, in the order of ``EncodedObject/Kind``.
public struct SeriesNumbers: Sendable, Equatable {
    /// How many numbers a result version uses.
    public static let count = EncodedObject.Kind.allCases.count

    public var first: Int

    public subscript(kind: EncodedObject.Kind) -> Int {
        first + EncodedObject.Kind.allCases.firstIndex(of: kind)!
    }

    public var segmentation: Int { self[.segmentation] }
    public var report: Int { self[.report] }
}
