import DICOM

/// The new series and instance a produced object (SEG, SR) belongs to: UIDs, Series Number and
/// Description, Instance Number (PS3.3 C.7.3.1, C.12.1). A re-run of a job makes a new series with a
/// higher number (docs/node-behaviour.md, Series completion), so the caller chooses the number.
public struct SeriesIdentity: Sendable, Hashable {
    public var seriesInstanceUID: String
    public var sopInstanceUID: String
    public var seriesNumber: Int
    public var instanceNumber: Int
    public var seriesDescription: String?

    /// New UIDs from `uids`.
    public init(
        uids: UIDGenerator, seriesNumber: Int, seriesDescription: String? = nil, instanceNumber: Int = 1
    ) throws(DICOMError) {
        try self.init(
            seriesInstanceUID: uids.make(), sopInstanceUID: uids.make(), seriesNumber: seriesNumber,
            seriesDescription: seriesDescription, instanceNumber: instanceNumber)
    }

    /// Given UIDs (e.g. a re-send that must keep them: docs/node-behaviour.md, Sending).
    public init(
        seriesInstanceUID: String, sopInstanceUID: String, seriesNumber: Int, seriesDescription: String? = nil,
        instanceNumber: Int = 1
    ) throws(DICOMError) {
        guard UID.isValid(seriesInstanceUID) else {
            throw DICOMError(
                .badValue, "\(Tag.seriesInstanceUID.described) is not a valid UID", tag: .seriesInstanceUID)
        }
        guard UID.isValid(sopInstanceUID) else {
            throw DICOMError(.badValue, "\(Tag.sopInstanceUID.described) is not a valid UID", tag: .sopInstanceUID)
        }
        // Series Number and Instance Number are IS: at most 12 characters, so within ±2^31.
        guard (0...Int(Int32.max)).contains(seriesNumber) else {
            throw DICOMError(.badValue, "\(Tag.seriesNumber.described) must be 0…2147483647", tag: .seriesNumber)
        }
        guard (1...Int(Int32.max)).contains(instanceNumber) else {
            throw DICOMError(.badValue, "\(Tag.instanceNumber.described) must be 1…2147483647", tag: .instanceNumber)
        }
        if let seriesDescription { try checkLongString(seriesDescription, .seriesDescription, required: false) }
        self.seriesInstanceUID = seriesInstanceUID
        self.sopInstanceUID = sopInstanceUID
        self.seriesNumber = seriesNumber
        self.instanceNumber = instanceNumber
        self.seriesDescription = seriesDescription
    }
}
