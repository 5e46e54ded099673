import Foundation
import Volume

extension SeriesGenerator.Written {
    /// The written series assembled as `mambanode volume` assembles it (default options): the
    /// grid label maps must be laid on to match the volume voxel for voxel.
    public func assemble(options: AssemblyOptions = AssemblyOptions()) throws -> Assembly {
        let found = Series.scan(files: files + [localizerFile].compactMap { $0 })
        guard let series = found.first(where: { $0.seriesInstanceUID == seriesInstanceUID }) else {
            throw SampleError(.badInput, "the written series \(seriesInstanceUID) could not be read back")
        }
        return try series.assemble(options: options)
    }
}

/// The `samples ct --truth` file: labels, volumes, landmarks and distances of one varied
/// abdomen phantom, in LPS millimetres.
public struct CTGroundTruth: GroundTruthFile, Sendable {
    public struct Pose: Encodable, Sendable {
        public var scale: Double
        public var translationMM: [Double]
        public var rotationDegrees: [Double]
        enum CodingKeys: String, CodingKey {
            case scale, translationMM = "translation_mm", rotationDegrees = "rotation_deg_xyz"
        }
    }

    /// Label value (as text) → structure name.
    public var labels: [String: String]
    /// Structure name → mm³.
    public var volumesMM3: [String: Double]
    public var volumesMethod: String
    /// Landmark name → [x, y, z] in LPS mm.
    public var landmarks: [String: [Double]]
    public var distancesMM: [String: Double]
    /// Which two landmarks each distance joins.
    public var distanceEnds: [String: [String]]
    public var lesion: Bool
    public var lesionCentre: [Double]?
    public var lesionRadiusMM: Double?
    public var lesionContrastHU: Double?
    public var seed: UInt64
    public var contrastEnhanced: Bool
    public var noiseSDHU: Double
    public var pose: Pose
    public var coordinates = "LPS mm (DICOM patient coordinates)"

    enum CodingKeys: String, CodingKey {
        case labels, lesion, seed, pose, landmarks, coordinates
        case volumesMM3 = "volumes_mm3", volumesMethod = "volumes_method", distancesMM = "distances_mm"
        case distanceEnds = "distance_landmarks", lesionCentre = "lesion_centre", lesionRadiusMM = "lesion_radius_mm"
        case lesionContrastHU = "lesion_contrast_hu", contrastEnhanced = "contrast_enhanced", noiseSDHU = "noise_sd_hu"
    }

    /// The truth of `abdomen`; volumes are counted on `labelMap` (the series grid).
    public init(_ abdomen: AbdomenPhantom, labelMap: Volume) {
        labels = Dictionary(uniqueKeysWithValues: AbdomenPhantom.labelNames.map { ("\($0.key)", $0.value) })
        let counts = labelMap.labelCounts()
        volumesMM3 = Dictionary(
            uniqueKeysWithValues: AbdomenPhantom.Structure.allCases.map {
                ($0.name, Double(counts[$0.rawValue] ?? 0) * labelMap.voxelVolume)
            })
        volumesMethod = "voxel-counted on the series grid (the label map of --labels)"
        landmarks = Dictionary(
            uniqueKeysWithValues: abdomen.landmarks.map { ($0.name, [$0.point.x, $0.point.y, $0.point.z]) })
        distancesMM = Dictionary(uniqueKeysWithValues: abdomen.distances.map { ($0.name, $0.millimetres) })
        distanceEnds = Dictionary(uniqueKeysWithValues: abdomen.distances.map { ($0.name, [$0.from, $0.to]) })
        lesion = abdomen.lesion != nil
        lesionCentre = abdomen.lesion.map { [$0.center.x, $0.center.y, $0.center.z] }
        lesionRadiusMM = abdomen.lesion?.radius
        lesionContrastHU = abdomen.lesion?.contrast
        seed = abdomen.seed
        contrastEnhanced = abdomen.contrastEnhanced
        noiseSDHU = abdomen.noiseSD
        pose = Pose(
            scale: abdomen.scale, translationMM: [abdomen.translation.x, abdomen.translation.y, abdomen.translation.z],
            rotationDegrees: [abdomen.rotationDegrees.x, abdomen.rotationDegrees.y, abdomen.rotationDegrees.z])
    }
}

/// The `samples mr --truth` and `samples mr-study --truth` file.
public struct MRGroundTruth: GroundTruthFile, Sendable {
    public struct Tumour: Encodable, Sendable {
        public var centre: [Double]
        public var enhancingRadiusMM: Double
        public var necrosisRadiusMM: Double
        public var edemaCentre: [Double]
        public var edemaRadiiMM: [Double]
        enum CodingKeys: String, CodingKey {
            case centre, enhancingRadiusMM = "enhancing_radius_mm", necrosisRadiusMM = "necrosis_radius_mm"
            case edemaCentre = "edema_centre", edemaRadiiMM = "edema_radii_mm"
        }
    }

    public var labels: [String: String]
    public var volumesMM3: [String: Double]
    public var volumesMethod = "voxel-counted on the series grid (the label map of --labels)"
    public var source: String
    public var sourceFile: String
    public var labelRule: String
    public var seed: UInt64
    /// mr-study: Series Description → folder.
    public var series: [String: String]?
    public var tumour: Tumour?
    public var coordinates = "LPS mm (DICOM patient coordinates)"

    enum CodingKeys: String, CodingKey {
        case labels, source, seed, series, tumour, coordinates
        case volumesMM3 = "volumes_mm3", volumesMethod = "volumes_method", sourceFile = "source_file", labelRule =
            "label_rule"
    }

    public init(
        labels names: [Int: String], labelMap: Volume, source: String, sourceFile: String, labelRule: String,
        seed: UInt64, series: [String: String]? = nil, tumour: BrainStudy.Tumour? = nil
    ) {
        labels = Dictionary(uniqueKeysWithValues: names.map { ("\($0.key)", $0.value) })
        let counts = labelMap.labelCounts()
        volumesMM3 = Dictionary(
            uniqueKeysWithValues: names.map { ($0.value, Double(counts[$0.key] ?? 0) * labelMap.voxelVolume) })
        self.source = source
        self.sourceFile = sourceFile
        self.labelRule = labelRule
        self.seed = seed
        self.series = series
        self.tumour = tumour.map { t in
            Tumour(
                centre: [t.centre.x, t.centre.y, t.centre.z], enhancingRadiusMM: t.enhancingRadius,
                necrosisRadiusMM: t.necrosisRadius, edemaCentre: [t.edemaCentre.x, t.edemaCentre.y, t.edemaCentre.z],
                edemaRadiiMM: [t.edemaRadii.x, t.edemaRadii.y, t.edemaRadii.z])
        }
    }
}

/// A ground-truth file written beside a sample series.
public protocol GroundTruthFile: Encodable {}

extension GroundTruthFile {
    /// Pretty, key-sorted JSON (stable across runs, so truth files can be compared).
    public func jsonData() throws -> Data {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.prettyPrinted, .sortedKeys, .withoutEscapingSlashes]
        return try encoder.encode(self)
    }
}
