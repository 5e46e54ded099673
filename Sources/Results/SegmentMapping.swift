import DICOM
import DICOMObjects
import ModelPackage

/// The SEG segments of a segmentation model, from its manifest's labels, and the mapping from
/// label-map values to segment numbers.
///
/// Segments are numbered 1…n in the order of `labels` in model.json (PS3.3 C.8.20.2: numbers
/// start at 1 and increase by 1), whatever the label values are, so a model with classes 1, 3
/// and 7 still makes segments 1, 2 and 3. Each segment carries the label's name and codes, its
/// colour as CIELab, AUTOMATIC with the manifest's algorithm (family default: Artificial
/// Intelligence, CID 7162) and a new Tracking UID, which the report's volume groups repeat
/// (TID 1411).
///
/// ```swift
/// let mapping = try SegmentMapping(manifest: package.manifest, uids: uids)
/// let (pixels, counts) = try mapping.pixels(of: labels)
/// ```
public struct SegmentMapping: Sendable {
    /// Segment descriptions, numbers 1…n.
    public let segments: [SegmentDescription]
    /// Label value of each segment (index = segment number − 1).
    public let labelValues: [Int]
    private let numberOfValue: [Int: Int]

    /// - Throws: `.manifest` naming the model.json field: no labels, a label value outside
    ///   1…65535 or repeated, an empty or repeated name, an incomplete code, a colour that is not
    ///   three values 0…255, or a value the DICOM writers refuse (e.g. a name over 64 characters).
    public init(manifest: ModelManifest, uids: UIDGenerator) throws(ResultsError) {
        guard let labels = manifest.labels, !labels.isEmpty else {
            throw ResultsError(.manifest, "a segmentation needs at least one label", field: "labels")
        }
        let algorithm = try Self.algorithm(manifest.algorithm)
        var segments: [SegmentDescription] = []
        var numberOfValue: [Int: Int] = [:]
        var names = Set<String>()
        for (index, label) in labels.enumerated() {
            let field = "labels[\(index)]"
            guard (1...65535).contains(label.value) else {
                throw ResultsError(
                    .manifest, "label value \(label.value) is not 1…65535 (0 is background)", field: field + ".value")
            }
            guard numberOfValue[label.value] == nil else {
                throw ResultsError(.manifest, "label value \(label.value) is used twice", field: field + ".value")
            }
            guard !label.name.isEmpty, names.insert(label.name).inserted else {
                throw ResultsError(
                    .manifest,
                    "the name must be given and unique (it is the Segment Label and the "
                        + "report's Tracking Identifier)", field: field + ".name")
            }
            let category = try Self.concept(label.category, field + ".category")
            let type = try Self.concept(label.type, field + ".type")
            let modifier = try label.typeModifier.map { (code) throws(ResultsError) in
                try Self.concept(code, field + ".type_modifier")
            }
            let color = try label.color.map { (rgb) throws(ResultsError) in try Self.color(rgb, field + ".color") }
            let number = index + 1
            do throws(DICOMError) {
                let tracking = try TrackingIdentity(identifier: label.name, uid: uids.make())
                segments.append(
                    try SegmentDescription(
                        number: number, label: label.name, category: category, type: type,
                        typeModifier: modifier, algorithmType: .automatic, algorithm: algorithm,
                        displayColor: color, tracking: tracking))
            } catch {
                let part: String =
                    switch error.tag {
                    case .segmentLabel?, .trackingID?: ".name"
                    case .segmentedPropertyCategoryCodeSequence?: ".category"
                    case .segmentedPropertyTypeCodeSequence?: ".type"
                    case .segmentedPropertyTypeModifierCodeSequence?: ".type_modifier"
                    default: ""
                    }
                throw ResultsError(.manifest, error.message, field: field + part, tag: error.tag)
            }
            numberOfValue[label.value] = number
        }
        self.segments = segments
        self.labelValues = labels.map(\.value)
        self.numberOfValue = numberOfValue
    }

    /// The segment number of label value `value`, nil for background and unknown values.
    public func segmentNumber(ofLabel value: Int) -> Int? { numberOfValue[value] }

    /// The label map in segment numbers, for the SEG writer, and the voxel count of each segment
    /// (index = segment number − 1).
    ///
    /// - Throws: `.unknownLabelValue` naming the first value that has no label in the manifest.
    public func pixels(of labels: LabelMap) throws(ResultsError) -> (pixels: SegmentationPixels, voxelCounts: [Int]) {
        // The SEG writer takes 8-bit maps when they suffice (one byte per voxel of a 512² × 300 CT).
        if segments.count <= 255 {
            if let (numbers, counts) = numberedByValue(labels) { return (.labels(numbers), counts) }
            let (numbers, counts) = try numbered(labels, as: UInt8.self)
            return (.labels(numbers), counts)
        }
        let (numbers, counts) = try numbered(labels, as: UInt16.self)
        return (.labels16(numbers), counts)
    }

    /// The usual manifest, label values 1…n in order: a voxel's segment number is its value,
    /// narrowed to a byte, and a histogram counts them (four interleaved, so that runs of one
    /// value do not wait on one counter). Nil when the values are otherwise, or when a voxel
    /// holds a value above n (`numbered` then names it).
    private func numberedByValue(_ labels: LabelMap) -> ([UInt8], [Int])? {
        let n = segments.count
        guard n <= 255, labelValues == Array(1...n) else { return nil }
        let count = labels.values.count
        var histogram = [Int](repeating: 0, count: 4 * 256)
        var valid = true
        let numbers = [UInt8](unsafeUninitializedCapacity: count) { out, initialized in
            labels.values.withUnsafeBufferPointer { values in
                let chunk = 1 << 16
                for start in stride(from: 0, to: count, by: chunk) {
                    let end = min(start + chunk, count)
                    var largest: UInt16 = 0
                    for index in start..<end { largest = max(largest, values[index]) }
                    guard Int(largest) <= n else {
                        valid = false
                        break
                    }
                    for index in start..<end { out[index] = UInt8(truncatingIfNeeded: values[index]) }
                    histogram.withUnsafeMutableBufferPointer { h in
                        var index = start
                        while index + 4 <= end {
                            h[Int(out[index])] += 1
                            h[256 + Int(out[index + 1])] += 1
                            h[512 + Int(out[index + 2])] += 1
                            h[768 + Int(out[index + 3])] += 1
                            index += 4
                        }
                        while index < end {
                            h[Int(out[index])] += 1
                            index += 1
                        }
                    }
                }
            }
            if !valid { out.initialize(repeating: 0) }
            initialized = count
        }
        guard valid else { return nil }
        let counts = (1...n).map { (v: Int) -> Int in
            (0..<4).reduce(0) { sum, part in sum + histogram[part * 256 + v] }
        }
        return (numbers, counts)
    }

    private func numbered<T: FixedWidthInteger>(
        _ labels: LabelMap, as type: T.Type
    ) throws(ResultsError) -> ([T], [Int]) {
        // A lookup table over every possible value: 0 background, -1 unknown.
        var table = [Int32](repeating: -1, count: 65536)
        table[0] = 0
        for (value, number) in numberOfValue { table[value] = Int32(number) }
        var counts = [Int](repeating: 0, count: segments.count + 1)
        var numbers = [T](repeating: 0, count: labels.values.count)
        var unknown: Int?
        labels.values.withUnsafeBufferPointer { values in
            numbers.withUnsafeMutableBufferPointer { numbers in
                for index in 0..<values.count {
                    let number = table[Int(values[index])]
                    if number < 0 {
                        unknown = index
                        return
                    }
                    numbers[index] = T(truncatingIfNeeded: number)
                    counts[Int(number)] += 1
                }
            }
        }
        if let index = unknown {
            let value = labels.values[index]
            let known = labelValues.map(String.init).joined(separator: ", ")
            let size = labels.geometry.size
            let voxel = "(\(index % size.x), \(index / size.x % size.y), \(index / (size.x * size.y)))"
            throw ResultsError(
                .unknownLabelValue,
                "label value \(value) has no label in the model's manifest "
                    + "(labels[].value: \(known)); first found at voxel \(voxel)", field: "labels[].value")
        }
        return (numbers, Array(counts.dropFirst()))
    }

    /// The manifest's algorithm as SEG/SR algorithm identification (PS3.3 C.8.20.2,
    /// Segmentation Algorithm Identification; family CID 7162, Artificial Intelligence when the
    /// manifest names none).
    static func algorithm(_ algorithm: ModelManifest.Algorithm) throws(ResultsError) -> AlgorithmIdentification {
        let family = try algorithm.family.map { (code) throws(ResultsError) in try concept(code, "algorithm.family") }
        do throws(DICOMError) {
            return try AlgorithmIdentification(
                name: algorithm.name, version: algorithm.version,
                family: family ?? .artificialIntelligence)
        } catch {
            let field =
                error.tag == .algorithmVersion
                ? "algorithm.version" : error.tag == .algorithmName ? "algorithm.name" : "algorithm"
            throw ResultsError(.manifest, error.message, field: field, tag: error.tag)
        }
    }

    /// A manifest code as a DICOM coded concept; every component must be given.
    static func concept(_ code: ModelManifest.Code, _ field: String) throws(ResultsError) -> CodedConcept {
        for (part, text) in [("code", code.code), ("scheme", code.scheme), ("meaning", code.meaning)] where text.isEmpty
        {
            throw ResultsError(
                .manifest, "the code's \(part) is missing (code, scheme and meaning are all written to the SEG/SR)",
                field: field + "." + part)
        }
        return CodedConcept(code.code, code.scheme, code.meaning)
    }

    static func color(_ rgb: [Int], _ field: String) throws(ResultsError) -> CIELabColor {
        guard rgb.count == 3, rgb.allSatisfy({ (0...255).contains($0) }) else {
            throw ResultsError(.manifest, "expected [r, g, b] with values 0…255", field: field)
        }
        return CIELabColor(sRGB: (UInt8(rgb[0]), UInt8(rgb[1]), UInt8(rgb[2])))
    }
}
