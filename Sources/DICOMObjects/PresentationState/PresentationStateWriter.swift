import CDICOM
import CDICOMObjects
import DICOM

/// One graphic layer of a presentation state (PS3.3 C.10.7): the annotations of one segment, or
/// of the landmarks, which a viewer can show or hide together.
public struct PresentationLayer: Sendable, Hashable {
    /// Graphic Layer (CS): 1–16 characters of A–Z, 0–9, space and `_`.
    public var name: String
    /// Graphic Layer Description (LO): what a person sees in the viewer's layer list.
    public var description: String?
    /// Graphic Layer Recommended Display RGB Value.
    public var color: SIMD3<UInt8>

    public init(name: String, description: String? = nil, color: SIMD3<UInt8>) {
        self.name = name
        self.description = description
        self.color = color
    }

    /// A Graphic Layer value made from any label: upper case, other characters as `_`, at most 16.
    public static func layerName(_ label: String) -> String {
        let allowed = Set("ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789 _")
        let name = String(label.uppercased().map { allowed.contains($0) ? $0 : "_" }.prefix(16))
        return name.isEmpty ? "LAYER" : name
    }
}

/// A graphic on one source frame, in PIXEL units: (column, row) with the top left corner of the
/// top left pixel at (0, 0) (PS3.3 C.10.5.1.2).
public struct PresentationGraphic: Sendable, Equatable {
    public enum Shape: Sendable, Equatable {
        /// A polyline; closed when its last point repeats its first.
        case polyline([SIMD2<Float>])
        case point(SIMD2<Float>)
    }

    /// Index into ``PresentationStateWriter/layers``.
    public var layer: Int
    /// Index of the source frame in the grid.
    public var frame: Int
    public var shape: Shape

    public init(layer: Int, frame: Int, shape: Shape) {
        self.layer = layer
        self.frame = frame
        self.shape = shape
    }
}

/// Text on one source frame (PS3.3 C.10.5 Text Object Sequence), in PIXEL units.
public struct PresentationText: Sendable, Equatable {
    public var layer: Int
    public var frame: Int
    public var text: String
    /// Bounding box: top left and bottom right corners (column, row).
    public var topLeft: SIMD2<Float>
    public var bottomRight: SIMD2<Float>
    /// A visible anchor point the text belongs to (a landmark), or nil.
    public var anchor: SIMD2<Float>?

    public init(
        layer: Int, frame: Int, text: String, topLeft: SIMD2<Float>, bottomRight: SIMD2<Float>,
        anchor: SIMD2<Float>? = nil
    ) {
        self.layer = layer
        self.frame = frame
        self.text = text
        self.topLeft = topLeft
        self.bottomRight = bottomRight
        self.anchor = anchor
    }
}

/// The grey-level window a presentation applies (Softcopy VOI LUT, PS3.3 C.11.8): centre and width
/// in modality values (e.g. HU), as PS3.3 C.11.2.1.2 defines them.
public struct DisplayWindowValues: Sendable, Hashable {
    public var center: Double
    public var width: Double
    /// Window Center & Width Explanation, e.g. "MODEL" or "CT SOFT TISSUE".
    public var explanation: String?

    public init(center: Double, width: Double, explanation: String? = nil) {
        self.center = center
        self.width = width
        self.explanation = explanation
    }

    /// The 8-bit display value of a modality value: the linear VOI function of PS3.3
    /// C.11.2.1.2.1 onto 0…255, as a viewer applying this window shows it.
    @inline(__always)
    public func display(_ value: Float) -> UInt8 {
        let x = Double(value)
        let c = center - 0.5, w = width - 1
        if x <= c - w / 2 { return 0 }
        if x > c + w / 2 { return 255 }
        return UInt8(clamping: Int((((x - c) / w + 0.5) * 255).rounded()))
    }
}

/// Writes a Grayscale Softcopy Presentation State (PS3.3 A.33.1) for a source series: the window,
/// one graphic layer per segment with its outlines on each image, landmarks and distances,
/// and text. Many diagnostic viewers that show no SEG display this over the original images.
///
/// ```swift
/// let writer = try PresentationStateWriter(
///     grid: grid, window: DisplayWindowValues(center: 40, width: 400), layers: [liver],
///     graphics: outlines, texts: [], series: SeriesIdentity(uids: uids, seriesNumber: 904),
///     label: "AI_RESULT", equipment: equipment)
/// try writer.write(to: "/var/out/gsps.dcm")
/// ```
public struct PresentationStateWriter: Sendable {
    public static let sopClassUID = "1.2.840.10008.5.1.4.1.1.11.1"

    public let grid: SourceImageGrid
    public let seriesInstanceUID: String
    public let window: DisplayWindowValues
    public let layers: [PresentationLayer]
    public let graphics: [PresentationGraphic]
    public let texts: [PresentationText]
    public let series: SeriesIdentity
    /// Content Label (CS), e.g. "AI_RESULT".
    public let label: String
    public let contentDescription: String?
    public let equipment: EquipmentIdentity

    /// - Parameter seriesInstanceUID: the source series the grid's frames belong to.
    /// - Throws: `.argument` for multi-frame sources, an index out of range or a polyline of fewer
    ///   than 2 or more than 8191 points (Graphic Data is one Explicit VR value); `.badValue` for a layer name or label that is no Code String, or a
    ///   window of width below 1.
    public init(
        grid: SourceImageGrid, seriesInstanceUID: String, window: DisplayWindowValues, layers: [PresentationLayer],
        graphics: [PresentationGraphic], texts: [PresentationText], series: SeriesIdentity, label: String,
        contentDescription: String? = nil, equipment: EquipmentIdentity
    ) throws(DICOMError) {
        if let frame = grid.frames.first(where: { $0.frameNumber != nil }) {
            throw DICOMError(
                .argument,
                "a presentation state on frames of a multi-frame source (\(frame.sopInstanceUID)) is not supported")
        }
        guard window.center.isFinite, window.width.isFinite, window.width >= 1 else {
            throw DICOMError(.badValue, "window width must be at least 1", tag: .windowWidth)
        }
        let codeString = Set("ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789 _")
        for name in layers.map(\.name) + [label]
        where name.isEmpty || name.count > 16 || !name.allSatisfy(codeString.contains) {
            throw DICOMError(.badValue, "'\(name)' is no Code String of 1–16 characters (A–Z, 0–9, space, _)")
        }
        for (n, g) in graphics.enumerated() {
            let points: Int
            switch g.shape {
            case .polyline(let p): points = p.count
            case .point: points = 2
            }
            guard layers.indices.contains(g.layer), grid.frames.indices.contains(g.frame), (2...8191).contains(points)
            else {
                throw DICOMError(.argument, "graphic \(n): layer \(g.layer), frame \(g.frame), \(points) points")
            }
        }
        for (n, t) in texts.enumerated()
        where !layers.indices.contains(t.layer) || !grid.frames.indices.contains(t.frame) {
            throw DICOMError(.argument, "text \(n): layer \(t.layer), frame \(t.frame)")
        }
        self.grid = grid
        self.seriesInstanceUID = seriesInstanceUID
        self.window = window
        self.layers = layers
        self.graphics = graphics
        self.texts = texts
        self.series = series
        self.label = label
        self.contentDescription = contentDescription
        self.equipment = equipment
    }

    /// Writes the presentation state (Explicit VR Little Endian) to `path`.
    public func write(to path: String) throws(DICOMError) {
        DICOMLibrary.initialize()
        let arena = CStringArena()
        let cImages = grid.frames.map { $0.cFrame(in: arena) }
        let cLayers = layers.map { layer in
            let lab = CIELabColor(sRGB: (layer.color.x, layer.color.y, layer.color.z)).dicomValues
            return mn_gsps_layer(
                name: arena(layer.name), description: arena(layer.description),
                color: (layer.color.x, layer.color.y, layer.color.z), cielab: (lab[0], lab[1], lab[2]))
        }
        var points: [Float] = []
        let cGraphics = graphics.map { g -> mn_gsps_graphic in
            let first = points.count / 2
            let type: mn_gsps_graphic_type
            switch g.shape {
            case .polyline(let p):
                for q in p { points += [q.x, q.y] }
                type = MN_GSPS_POLYLINE
            case .point(let q):
                points += [q.x, q.y]
                type = MN_GSPS_POINT
            }
            return mn_gsps_graphic(
                layer: UInt32(g.layer), image: UInt32(g.frame), type: type.rawValue, first_point: first,
                point_count: UInt32(points.count / 2 - first))
        }
        let cTexts = texts.map { t in
            mn_gsps_text(
                layer: UInt32(t.layer), image: UInt32(t.frame), text: arena(t.text),
                box: (t.topLeft.x, t.topLeft.y, t.bottomRight.x, t.bottomRight.y), has_anchor: t.anchor == nil ? 0 : 1,
                anchor: (t.anchor?.x ?? 0, t.anchor?.y ?? 0))
        }
        var request = mn_gsps_request()
        request.reference_path = arena(grid.referencePath)
        request.referenced_series_instance_uid = arena(seriesInstanceUID)
        request.rows = UInt16(grid.rows)
        request.columns = UInt16(grid.columns)
        request.pixel_spacing = (grid.pixelSpacing.row, grid.pixelSpacing.column)
        request.window_center = window.center
        request.window_width = window.width
        request.window_explanation = arena(window.explanation)
        request.content_label = arena(label)
        request.content_description = arena(contentDescription)
        request.content_creator = arena("MambaNode")
        request.identify(series, equipment, in: arena)
        try withExtendedLifetime(arena) { () throws(DICOMError) in
            try cImages.withUnsafeBufferPointer { images throws(DICOMError) in
                try cLayers.withUnsafeBufferPointer { layers throws(DICOMError) in
                    try cGraphics.withUnsafeBufferPointer { graphics throws(DICOMError) in
                        try cTexts.withUnsafeBufferPointer { texts throws(DICOMError) in
                            try points.withUnsafeBufferPointer { points throws(DICOMError) in
                                request.images = images.baseAddress
                                request.image_count = images.count
                                request.layers = layers.baseAddress
                                request.layer_count = layers.count
                                request.graphics = graphics.baseAddress
                                request.graphic_count = graphics.count
                                request.texts = texts.baseAddress
                                request.text_count = texts.count
                                request.points = points.baseAddress
                                request.point_count = points.count / 2
                                try shimCall(path: path) { mn_gsps_write(&request, path, $0) }
                            }
                        }
                    }
                }
            }
        }
    }
}
