import CDICOM
import CDICOMObjects
import DICOM

/// One instance a Key Object Selection document points at, in the source's study.
public struct KeyObjectReference: Sendable, Hashable {
    public var seriesInstanceUID: String
    public var sopClassUID: String
    public var sopInstanceUID: String
    /// The frame of a multi-frame image, or nil for the whole instance.
    public var frameNumber: Int?

    public init(seriesInstanceUID: String, sopClassUID: String, sopInstanceUID: String, frameNumber: Int? = nil) {
        self.seriesInstanceUID = seriesInstanceUID
        self.sopClassUID = sopClassUID
        self.sopInstanceUID = sopInstanceUID
        self.frameNumber = frameNumber
    }
}

/// Writes a Key Object Selection Document (PS3.3 A.35.4, PS3.16 TID 2010) titled
/// (113000, DCM, "Of Interest"): the slices a person should look at first, and the result
/// series, so that a PACS that flags key images opens the study on them.
///
/// ```swift
/// let writer = try KeyObjectWriter(
///     referencePath: firstSourceFile, references: keySlices + results,
///     description: "Largest cross-section of each segment", series: SeriesIdentity(uids: uids, seriesNumber: 905),
///     equipment: equipment)
/// try writer.write(to: "/var/out/ko.dcm")
/// ```
public struct KeyObjectWriter: Sendable {
    public static let sopClassUID = "1.2.840.10008.5.1.4.1.1.88.59"

    /// A source file whose patient and study the document is filed under.
    public let referencePath: String
    public let references: [KeyObjectReference]
    /// Key Object Description (TEXT, at most 1024 characters), or nil.
    public let description: String?
    public let series: SeriesIdentity
    public let equipment: EquipmentIdentity

    /// - Throws: `.argument` with no reference; `.badValue` for a reference that is not a UID or a
    ///   description longer than 1024 characters.
    public init(
        referencePath: String, references: [KeyObjectReference], description: String?, series: SeriesIdentity,
        equipment: EquipmentIdentity
    ) throws(DICOMError) {
        guard !references.isEmpty else { throw DICOMError(.argument, "a key object selection needs a reference") }
        for r in references {
            for (uid, tag) in [
                (r.seriesInstanceUID, Tag.seriesInstanceUID), (r.sopClassUID, .referencedSOPClassUID),
                (r.sopInstanceUID, .referencedSOPInstanceUID)
            ] where !UID.isValid(uid) {
                throw DICOMError(.badValue, "key object reference: '\(uid)' is not a UID", tag: tag)
            }
        }
        if let description, description.count > 1024 {
            throw DICOMError(.badValue, "Key Object Description is longer than 1024 characters")
        }
        self.referencePath = referencePath
        self.references = references
        self.description = description
        self.series = series
        self.equipment = equipment
    }

    /// Writes the document (Explicit VR Little Endian) to `path`.
    public func write(to path: String) throws(DICOMError) {
        DICOMLibrary.initialize()
        let arena = CStringArena()
        let cReferences = references.map { r in
            mn_ko_reference(
                series_instance_uid: arena(r.seriesInstanceUID), sop_class_uid: arena(r.sopClassUID),
                sop_instance_uid: arena(r.sopInstanceUID), frame_number: UInt32(r.frameNumber ?? 0))
        }
        var request = mn_ko_request()
        request.reference_path = arena(referencePath)
        request.description = arena(description)
        request.identify(series, equipment, in: arena)
        try withExtendedLifetime(arena) { () throws(DICOMError) in
            try cReferences.withUnsafeBufferPointer { references throws(DICOMError) in
                request.references = references.baseAddress
                request.reference_count = references.count
                try shimCall(path: path) { mn_ko_write(&request, path, $0) }
            }
        }
    }
}
