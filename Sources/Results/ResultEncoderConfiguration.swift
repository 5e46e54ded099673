import DICOM
import DICOMObjects

/// What the node says about itself and how it numbers and names the series it produces. Passed
/// by value to ``ResultEncoder``; every field but the two identities has a default.
///
/// Series numbers: version v of a result gets SEG Series Number `firstSeriesNumber +
/// seriesNumberStep × (v − 1)`, SR that number + 1 and RT Structure Set + 2, so a re-processed
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

    public init(equipment: EquipmentIdentity, observer: DeviceObserver) {
        self.equipment = equipment
        self.observer = observer
    }

    /// SEG and SR Series Numbers of `version` (1, 2, …).
    func seriesNumbers(version: Int) throws(ResultsError) -> (segmentation: Int, report: Int, structureSet: Int) {
        let (offset, overflow1) = (version - 1).multipliedReportingOverflow(by: seriesNumberStep)
        let (number, overflow2) = firstSeriesNumber.addingReportingOverflow(offset)
        // Series Number is IS: 0…2^31 − 1 here (SeriesIdentity checks the same range).
        guard version >= 1, !overflow1, !overflow2, number >= 0, number < Int(Int32.max) else {
            throw ResultsError(
                .encoding,
                "version \(version) gives no Series Number within 0…2147483646 "
                    + "(first \(firstSeriesNumber), step \(seriesNumberStep))", tag: .seriesNumber)
        }
        return (number, number + 1, number + 2)
    }
}
