import DICOM
import Foundation

extension Instance {
    /// Reads the header of `path` (stopping before Pixel Data) and extracts the instance.
    ///
    /// Throws `.unreadable` for files that are not DICOM, `.unsupported` for objects that are not
    /// images (no Rows/Columns, e.g. SR or a DICOMDIR), and `.badAttribute` naming the tag when a
    /// geometry attribute is malformed. Absent geometry is not an error here: stacking decides.
    public init(contentsOf path: String) throws(VolumeError) {
        let dataSet: DataSet
        do {
            dataSet = try DataSet.read(contentsOf: path, headerOnly: true)
        } catch {
            throw VolumeError(.unreadable, "cannot read \(path): \(error.message)", tag: error.tag)
        }
        try self.init(dataSet: dataSet, path: path)
    }

    /// Extracts the instance from a data set already read (header only is enough).
    public init(dataSet ds: DataSet, path: String) throws(VolumeError) {
        let reader = AttributeReader(dataSet: ds)
        let sopInstance = try reader.string(.sopInstanceUID) ?? ""
        reader.instance = sopInstance
        guard !sopInstance.isEmpty else {
            throw VolumeError(.missingAttribute, "no SOP Instance UID in \(path)", tag: .sopInstanceUID)
        }
        guard ds.contains(.rows), ds.contains(.columns) else {
            throw VolumeError(.unsupported, "not an image (no Rows/Columns)", tag: .rows, instance: sopInstance)
        }
        let info: PixelInfo
        do { info = try ds.pixelInfo() } catch {
            throw VolumeError(
                .badAttribute, "unusable Image Pixel Module: \(error.message)", tag: error.tag,
                instance: sopInstance)
        }
        self.path = path
        sopInstanceUID = sopInstance
        sopClassUID = try reader.string(.sopClassUID) ?? ""
        studyInstanceUID = try reader.string(.studyInstanceUID) ?? ""
        seriesInstanceUID = try reader.string(.seriesInstanceUID) ?? ""
        frameOfReferenceUID = try reader.string(.frameOfReferenceUID)
        transferSyntaxUID = ds.transferSyntax?.uid
        modality = try reader.string(.modality)
        seriesDescription = try reader.string(.seriesDescription)
        bodyPartExamined = try reader.string(.bodyPartExamined)
        seriesNumber = try reader.int(.seriesNumber)
        instanceNumber = try reader.int(.instanceNumber)
        imageType = (try reader.strings(.imageType) ?? []).map { $0.uppercased() }
        pixel = PixelDescription(
            rows: info.rows, columns: info.columns, samplesPerPixel: info.samplesPerPixel,
            bitsAllocated: info.bitsAllocated, bitsStored: info.bitsStored,
            isSigned: info.isSigned, numberOfFrames: max(1, info.numberOfFrames),
            photometricInterpretation: info.photometricInterpretation)
        gantryTilt = try reader.double(.gantryDetectorTilt)
        sliceThickness = try reader.double(.sliceThickness)
        spacingBetweenSlices = try reader.double(.spacingBetweenSlices)
        mrAcquisitionType = try reader.string(.mrAcquisitionType)?.uppercased()

        let shared = try reader.firstItem(.sharedFunctionalGroupsSequence, of: ds)
        let perFrame = try reader.items(.perFrameFunctionalGroupsSequence, of: ds)
        hasFunctionalGroups = shared != nil || perFrame != nil
        let topLevel = try Frame(reading: ds, reader: reader)
        if hasFunctionalGroups {
            frames = []
            frames.reserveCapacity(pixel.numberOfFrames)
            for index in 0..<pixel.numberOfFrames {
                let item = perFrame.flatMap { index < $0.count ? $0[index] : nil }
                frames.append(try Frame(functionalGroups: item, shared: shared, defaults: topLevel, reader: reader))
            }
            if sliceThickness == nil,
                let measures = try reader.group(
                    .pixelMeasuresSequence, item: perFrame?.first,
                    shared: shared)
            {
                sliceThickness = try reader.double(.sliceThickness, in: measures)
            }
        } else if pixel.numberOfFrames == 1 {
            frames = [topLevel]
        } else {
            // A multi-frame image without functional groups (e.g. legacy NM, US) has no per-frame
            // position: its frames carry no geometry and are excluded from stacks.
            frames = Array(repeating: Frame(rescale: topLevel.rescale), count: pixel.numberOfFrames)
        }
    }
}

extension Frame {
    /// The top-level (single-frame) attributes: Image Plane Module (PS3.3 C.7.6.2), Modality LUT
    /// (C.11.1), and the MR/CT splitting keys.
    init(reading ds: DataSet, reader: AttributeReader) throws(VolumeError) {
        position = try reader.position(in: ds)
        orientation = try reader.orientation(in: ds)
        pixelSpacing = try reader.pixelSpacing(in: ds)
        rescale = try reader.rescale(in: ds) ?? .identity
        echoNumber = try reader.int(.echoNumbers)
        echoTime = try reader.double(.echoTime)
        acquisitionNumber = try reader.int(.acquisitionNumber)
        temporalPosition = try reader.int(.temporalPositionIdentifier)
        diffusionBValue = try reader.double(.diffusionBValue)
    }

    /// One frame of an enhanced image: each functional group comes from the frame's item of the
    /// Per-frame Functional Groups Sequence or else from the Shared one (PS3.3 C.7.6.16.1).
    init(
        functionalGroups item: DataSet?, shared: DataSet?, defaults: Frame, reader: AttributeReader
    ) throws(VolumeError) {
        self = Frame(rescale: defaults.rescale)
        if let plane = try reader.group(.planePositionSequence, item: item, shared: shared) {
            position = try reader.position(in: plane)
        }
        if let plane = try reader.group(.planeOrientationSequence, item: item, shared: shared) {
            orientation = try reader.orientation(in: plane)
        }
        if let measures = try reader.group(.pixelMeasuresSequence, item: item, shared: shared) {
            pixelSpacing = try reader.pixelSpacing(in: measures)
        }
        if let transformation = try reader.group(.pixelValueTransformationSequence, item: item, shared: shared) {
            rescale = try reader.rescale(in: transformation) ?? defaults.rescale
        }
        if let echo = try reader.group(.mrEchoSequence, item: item, shared: shared) {
            echoTime = try reader.double(.effectiveEchoTime, in: echo)
        }
        if let diffusion = try reader.group(.mrDiffusionSequence, item: item, shared: shared) {
            diffusionBValue = try reader.double(.diffusionBValue, in: diffusion)
        }
        // Frame Content (C.7.6.16.2.2) is always per-frame.
        if let content = try reader.group(.frameContentSequence, item: item, shared: nil) {
            stackID = try reader.string(.stackID, in: content)
            temporalPosition = try reader.int(.temporalPositionIndex, in: content)
            acquisitionNumber = try reader.int(.frameAcquisitionNumber, in: content)
        }
    }
}

/// Reads attributes and turns DICOM errors into `VolumeError`s that name the tag and instance.
final class AttributeReader {
    let dataSet: DataSet
    var instance: String?

    init(dataSet: DataSet) { self.dataSet = dataSet }

    private func wrap<T>(_ tag: Tag, _ body: () throws(DICOMError) -> T) throws(VolumeError) -> T {
        do { return try body() } catch {
            throw VolumeError(
                .badAttribute, "unreadable \(tag.described): \(error.message)", tag: tag, instance: instance)
        }
    }

    func string(_ tag: Tag, in ds: DataSet? = nil) throws(VolumeError) -> String? {
        let value = try wrap(tag) { () throws(DICOMError) in try (ds ?? dataSet).string(tag) }
        guard let value else { return nil }
        let trimmed = value.trimmingCharacters(in: CharacterSet(charactersIn: " \0"))
        return trimmed.isEmpty ? nil : trimmed
    }

    func strings(_ tag: Tag) throws(VolumeError) -> [String]? {
        try wrap(tag) { () throws(DICOMError) in try dataSet.strings(tag) }
    }

    func doubles(_ tag: Tag, in ds: DataSet? = nil) throws(VolumeError) -> [Double]? {
        try wrap(tag) { () throws(DICOMError) in try (ds ?? dataSet).doubles(tag) }
    }

    func double(_ tag: Tag, in ds: DataSet? = nil) throws(VolumeError) -> Double? { try doubles(tag, in: ds)?.first }

    func int(_ tag: Tag, in ds: DataSet? = nil) throws(VolumeError) -> Int? {
        guard let value = try double(tag, in: ds) else { return nil }
        guard value.rounded() == value, abs(value) < 1e15 else {
            throw VolumeError(.badAttribute, "\(tag.described) value is not an integer", tag: tag, instance: instance)
        }
        return Int(value)
    }

    func items(_ tag: Tag, of ds: DataSet) throws(VolumeError) -> [DataSet]? {
        try wrap(tag) { () throws(DICOMError) in try ds.items(tag) }
    }

    func firstItem(_ tag: Tag, of ds: DataSet) throws(VolumeError) -> DataSet? {
        try wrap(tag) { () throws(DICOMError) in try ds.firstItem(tag) }
    }

    /// The first item of functional group `tag`, per-frame first, then shared.
    func group(_ tag: Tag, item: DataSet?, shared: DataSet?) throws(VolumeError) -> DataSet? {
        if let item, let found = try firstItem(tag, of: item) { return found }
        if let shared { return try firstItem(tag, of: shared) }
        return nil
    }

    func position(in ds: DataSet) throws(VolumeError) -> SIMD3<Double>? {
        guard let v = try doubles(.imagePositionPatient, in: ds) else { return nil }
        guard v.count == 3, v.allSatisfy(\.isFinite) else {
            throw VolumeError(
                .badAttribute, "\(Tag.imagePositionPatient.described) needs 3 finite values, has \(v.count)",
                tag: .imagePositionPatient, instance: instance)
        }
        return SIMD3(v[0], v[1], v[2])
    }

    /// Image Orientation (Patient), checked to be two unit vectors at right angles
    /// (PS3.3 C.7.6.2.1.1) within 1e-3, then normalised.
    func orientation(in ds: DataSet) throws(VolumeError) -> Orientation? {
        guard let v = try doubles(.imageOrientationPatient, in: ds) else { return nil }
        let tag = Tag.imageOrientationPatient
        guard v.count == 6, v.allSatisfy(\.isFinite) else {
            throw VolumeError(
                .badAttribute, "\(tag.described) needs 6 finite values, has \(v.count)", tag: tag, instance: instance)
        }
        let row = SIMD3(v[0], v[1], v[2]), column = SIMD3(v[3], v[4], v[5])
        guard abs(length(row) - 1) < 1e-3, abs(length(column) - 1) < 1e-3, abs(dot(row, column)) < 1e-3 else {
            throw VolumeError(
                .badAttribute, "\(tag.described) is not two orthogonal unit vectors", tag: tag, instance: instance)
        }
        // Orthonormalise so that small rounding in DS values does not skew the grid.
        let r = normalized(row)
        let c = normalized(column - r * dot(column, r))
        return Orientation(row: r, column: c)
    }

    func pixelSpacing(in ds: DataSet) throws(VolumeError) -> PixelSpacing? {
        guard let v = try doubles(.pixelSpacing, in: ds) else { return nil }
        guard v.count == 2, v.allSatisfy({ $0.isFinite && $0 > 0 }) else {
            throw VolumeError(
                .badAttribute, "\(Tag.pixelSpacing.described) needs 2 positive values",
                tag: .pixelSpacing, instance: instance)
        }
        return PixelSpacing(row: v[0], column: v[1])
    }

    func rescale(in ds: DataSet) throws(VolumeError) -> Rescale? {
        let slope = try double(.rescaleSlope, in: ds)
        let intercept = try double(.rescaleIntercept, in: ds)
        if slope == nil, intercept == nil { return nil }
        let s = slope ?? 1
        guard s.isFinite, s != 0, (intercept ?? 0).isFinite else {
            throw VolumeError(
                .badAttribute, "\(Tag.rescaleSlope.described) must be finite and non-zero",
                tag: .rescaleSlope, instance: instance)
        }
        return Rescale(slope: s, intercept: intercept ?? 0)
    }
}
