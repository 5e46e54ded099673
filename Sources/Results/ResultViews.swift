import Foundation

/// What the optional objects of a result show — the RT Structure Set, presentation state,
/// Secondary Capture overlays and Key Object Selection (docs/results.md, Outputs per
/// destination) — gathered once from the model's output, whatever its task.
struct ResultViews {
    struct Segment {
        var name: String
        var color: SIMD3<UInt8>
        /// Index of the label in the manifest, and of its entry in `outlines`.
        var labelIndex: Int
        var millilitres: Double
    }

    struct Point {
        var name: String
        /// Patient position (LPS mm) in the source Frame of Reference.
        var position: SIMD3<Double>
    }

    struct Distance {
        var name: String
        var from: Int
        var to: Int
        var millimetres: Double
    }

    /// Segments with at least one voxel, in manifest order.
    var segments: [Segment] = []
    /// The label map the segments were traced from and their outlines (segmentation only).
    var labels: LabelMap?
    var outlines: SegmentOutlines?
    var landmarks: [Point] = []
    var distances: [Distance] = []
    /// "Pathology: Malignant (p = 0.87)" for a classification.
    var classification: String?

    /// Colours of landmarks and distances, and of text that belongs to no segment.
    static let landmarkColor = SIMD3<UInt8>(255, 220, 0)
    static let textColor = SIMD3<UInt8>(255, 255, 255)
    /// The warning every burned-in image carries.
    static let caution = "AI RESULT — NOT FOR PRIMARY DIAGNOSIS"
    /// The same in ASCII, for text a source's character set must encode (a presentation state's
    /// text uses the source's Specific Character Set, often none: ASCII).
    static let cautionASCII = "AI RESULT - NOT FOR PRIMARY DIAGNOSIS"

    /// The lines of the summary: what the report says, as a person reads it.
    func summaryLines(model: String) -> [String] {
        var lines = [model]
        if !segments.isEmpty {
            lines.append("")
            lines.append("Segments (volume)")
            for s in segments { lines.append("  \(s.name): \(Self.format(s.millilitres, digits: 1)) mL") }
        }
        if !landmarks.isEmpty {
            lines.append("")
            lines.append("Landmarks (x, y, z mm, LPS)")
            for p in landmarks {
                let v = p.position
                lines.append(
                    "  \(p.name): \(Self.format(v.x, digits: 1)), \(Self.format(v.y, digits: 1)), "
                        + "\(Self.format(v.z, digits: 1))")
            }
        }
        if !distances.isEmpty {
            lines.append("")
            lines.append("Distances")
            for d in distances { lines.append("  \(d.name): \(Self.format(d.millimetres, digits: 1)) mm") }
        }
        if let classification {
            lines.append("")
            lines.append("Classification")
            lines.append("  " + classification)
        }
        return lines
    }

    static func format(_ value: Double, digits: Int) -> String { String(format: "%.\(digits)f", value) }
}
