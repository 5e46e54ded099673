import Foundation

/// The contents of a model package's `model.json` (docs/model-package.md): what the network is, what it
/// takes, how its input is prepared and what its outputs mean. Plain values, checked by
/// `ModelManifest.validated()`; the engine, the result encoders and the router each read the
/// part they need.
public struct ModelManifest: Codable, Sendable, Equatable {
    public enum Task: String, Codable, Sendable { case segmentation, classification, landmarks }

    /// `nnMambaSeg` (segmentation and landmark heat-maps) or `nnMambaEncoder` (classification),
    /// with the constructor arguments of the official code (docs/nnmamba-architecture.md §3, §4).
    public struct Network: Codable, Sendable, Equatable {
        public enum Architecture: String, Codable, Sendable { case nnMambaSeg, nnMambaEncoder }
        public var architecture: Architecture
        public var inChannels: Int
        public var channels: Int
        public var blocks: Int
        /// Output channels: classes (segmentation, including background), heat-maps (landmarks)
        /// or logits (classification).
        public var outputs: Int
        public var dState: Int?
    }

    /// Per-channel intensity normalisation (nnU-Net's recipe, docs/inference.md).
    public struct Normalization: Codable, Sendable, Equatable {
        public enum Kind: String, Codable, Sendable {
            case ct, zscore, none
            /// LFC's `window_image`: mean and standard deviation of the voxels above 0, values
            /// clipped to mean ± 2 SD and mapped linearly onto [0, 255].
            case lfcWindow = "lfc_window"
        }
        public var kind: Kind
        /// CT: clip to [low, high] then (x − mean) / std with the dataset's statistics.
        public var clip: [Double]?
        public var mean: Double?
        public var std: Double?
        /// z-score: statistics over non-zero voxels only (brain MR after skull stripping); with
        /// the nnunet_v1 recipe, nnU-Net's `use_mask_for_norm` (the hole-filled non-zero mask,
        /// also zeroing CT outside it).
        public var nonzeroMask: Bool?
    }

    /// The array the weights were trained on, relative to the assembled series
    /// (docs/official-input-layouts.md). Absent: the node's own layout, `orientation` LPS and
    /// `array` sitk_kji, which is what packages trained by `Tools/train.py` expect.
    public struct InputLayout: Codable, Sendable, Equatable {
        /// Which grid the tensor's axes follow.
        public enum Orientation: String, Codable, Sendable {
            /// The series' axes permuted and flipped to run toward patient left, posterior and
            /// superior (LPS), as the node resamples every series.
            case lps = "LPS"
            /// The voxel order dcm2niix writes: columns as stored, rows reversed, slices along
            /// row × column (docs/official-input-layouts.md §1); what official checkpoints
            /// trained on dcm2niix's NIfTI files saw.
            case asStoredByDcm2niix = "as_stored_by_dcm2niix"
        }

        /// The order of the tensor's spatial axes on that grid.
        public enum ArrayOrder: String, Codable, Sendable {
            /// [k, j, i], i fastest: SimpleITK's `GetArrayFromImage` (nnU-Net), and the node's own.
            case sitkKJI = "sitk_kji"
            /// [i, j, k], k fastest: nibabel's `get_fdata()`.
            case nibabelIJK = "nibabel_ijk"
        }

        public var orientation: Orientation
        public var array: ArrayOrder

        public init(orientation: Orientation = .lps, array: ArrayOrder = .sitkKJI) {
            self.orientation = orientation
            self.array = array
        }
    }

    /// Which program's recipe turns the volumes into the tensor, and its outputs back
    /// (docs/official-input-layouts.md §5). Absent: `mambanode`, the node's own.
    public struct Preprocessing: Codable, Sendable, Equatable {
        public enum Recipe: String, Codable, Sendable {
            /// The node's own (docs/inference.md): what `Tools/train.py` trains with.
            case mambanode
            /// nnU-Net v1 as the official segmentation checkpoints were trained: crop to the
            /// non-zero box, `transpose_forward`, scikit-image resize to the target spacing (third
            /// order, edges repeated, clipped to the input's range; the out-of-plane axis by
            /// nearest when the spacing is more than 3× anisotropic), normalisation after
            /// resampling, over the hole-filled non-zero mask where an input asks for it; the
            /// class maps back by linear interpolation (nearest along a separate axis), argmax.
            case nnunetV1 = "nnunet_v1"
            /// LFC's landmark recipe: the stored volume resized to `grid` (linear, reflected
            /// edges, Gaussian anti-aliasing where it shrinks), each heat-map's peak read as LFC
            /// reads it.
            case lfc
            /// The stored volume as it is (the official classification code: no crop, resampling
            /// or padding).
            case none
        }

        public var recipe: Recipe
        /// nnunet_v1: the plans' `transpose_forward`, applied to the tensor's spatial axes after
        /// `input_layout`'s array order; `patch_size` and `mirror_axes` are in the transposed
        /// order.
        public var transposeForward: [Int]?
        /// lfc: the size of the tensor, (D, H, W).
        public var grid: [Int]?

        public init(recipe: Recipe, transposeForward: [Int]? = nil, grid: [Int]? = nil) {
            self.recipe = recipe
            self.transposeForward = transposeForward
            self.grid = grid
        }
    }

    /// One input channel and the rule that picks its series (study-level routes match the
    /// channel names to route channels).
    public struct Input: Codable, Sendable, Equatable {
        public var name: String
        public var modality: String?
        public var normalization: Normalization
    }

    /// A coded concept as in DICOM: code value, coding scheme designator, code meaning.
    public struct Code: Codable, Sendable, Equatable {
        public var code: String
        public var scheme: String
        public var meaning: String

        public init(code: String, scheme: String, meaning: String) {
            self.code = code
            self.scheme = scheme
            self.meaning = meaning
        }
    }

    /// A segmentation label: output channel `value` becomes one SEG segment.
    public struct Label: Codable, Sendable, Equatable {
        public var value: Int
        public var name: String
        public var category: Code
        public var type: Code
        public var typeModifier: Code?
        /// sRGB 0…255, converted to CIELab for Recommended Display CIELab Value.
        public var color: [Int]?
        /// RT ROI Interpreted Type (PS3.3 C.8.8.8.1) of the label's ROI in an RT Structure Set;
        /// absent means ORGAN.
        public var rtRoiInterpretedType: String?

        /// The defined terms of RT ROI Interpreted Type (PS3.3 C.8.8.8.1).
        public static let rtROIInterpretedTypes: Set<String> = [
            "EXTERNAL", "PTV", "CTV", "GTV", "TREATED_VOLUME", "IRRAD_VOLUME", "OAR", "BOLUS", "AVOIDANCE",
            "ORGAN", "MARKER", "REGISTRATION", "ISOCENTER", "CONTRAST_AGENT", "CAVITY", "BRACHY_CHANNEL",
            "BRACHY_ACCESSORY", "BRACHY_SRC_APP", "BRACHY_CHNL_SHLD", "SUPPORT", "FIXATION", "DOSE_REGION",
            "CONTROL", "DOSE_MEASUREMENT"
        ]
    }

    /// The grey-level window results are drawn with (Secondary Capture overlays, the
    /// presentation state's Softcopy VOI LUT): centre and width in the input's modality values
    /// (PS3.3 C.11.2.1.2), e.g. HU for CT.
    public struct DisplayWindow: Codable, Sendable, Equatable {
        public var center: Double
        public var width: Double

        public init(center: Double, width: Double) {
            self.center = center
            self.width = width
        }
    }

    public struct Landmark: Codable, Sendable, Equatable {
        /// The heat-map output channel.
        public var channel: Int
        public var name: String
        public var code: Code?
    }

    /// A distance reported in the SR between two named landmarks.
    public struct Distance: Codable, Sendable, Equatable {
        public var from: String
        public var to: String
        public var name: String?
    }

    public enum LandmarkRefinement: String, Codable, Sendable { case peak, centroid, parabolic }

    public struct Classification: Codable, Sendable, Equatable {
        /// The concept being classified (e.g. (111042, DCM, "Pathology")).
        public var concept: Code
        /// The finding when positive, and when negative.
        public var positive: Code
        public var negative: Code
        /// Applied to the calibrated probability when `calibration` is present.
        public var threshold: Double
        /// How the network's logit becomes the reported probability; absent: the plain sigmoid.
        public var calibration: Calibration?
    }

    /// Post-hoc calibration of a classifier's probability, fitted on held-out cases by
    /// `Tools/calibrate.py` (docs/model-package.md, Calibration).
    public struct Calibration: Codable, Sendable, Equatable {
        public enum Method: String, Codable, Sendable {
            /// Temperature scaling (Guo et al. 2017): p = σ(z / T), z the logit (or the difference
            /// of two). One parameter, monotone: the ranking, and so the AUC, stay as they were,
            /// and so does the decision at 0.5.
            case temperature
        }

        public var method: Method
        /// T > 0; above 1 softens over-confident outputs.
        public var temperature: Double
        /// Where the parameter was fitted, for the model card and `models verify` (free text).
        public var fittedOn: String?

        public init(method: Method = .temperature, temperature: Double, fittedOn: String? = nil) {
            self.method = method
            self.temperature = temperature
            self.fittedOn = fittedOn
        }

        /// The calibrated probability of the positive class for the logit `z`, in Double (as
        /// ``BinaryClassification``: a Float sigmoid saturates at |z| ≈ 17).
        public func probability(logit z: Double) -> Double {
            switch method {
            case .temperature: return 1 / (1 + exp(-z / temperature))
            }
        }
    }

    public struct Algorithm: Codable, Sendable, Equatable {
        public var name: String
        public var version: String
        public var family: Code?
    }

    public var format: String
    public var name: String
    public var task: Task
    public var network: Network
    public var inputs: [Input]
    /// How the tensor's axes relate to the series; absent: the node's own (`InputLayout()`).
    public var inputLayout: InputLayout?
    /// The recipe from volumes to tensor and back; absent: the node's own.
    public var preprocessing: Preprocessing?
    /// Voxel spacing the network was trained at, in mm along (i, j, k) of the grid that
    /// `inputLayout.orientation` names: (x, y, z) of LPS by default.
    public var targetSpacing: [Double]
    /// Sliding-window patch in tensor order (D, H, W): (k, j, i) of that grid, or (i, j, k) with
    /// `array` nibabel_ijk; each a multiple of 16.
    public var patchSize: [Int]
    /// Tensor axes (2 = D, 3 = H, 4 = W) over which test-time mirroring averages; [] for none.
    public var mirrorAxes: [Int]?
    public var labels: [Label]?
    public var landmarks: [Landmark]?
    public var distances: [Distance]?
    /// How landmarks are decoded: `peak` (the argmax voxel, the conventional rule), `centroid`
    /// (the centroid of the 3×3×3 neighbourhood of the peak) or `parabolic` (per axis, the vertex
    /// of the parabola through the peak and its neighbours: for heat-maps trained with a spatial
    /// softmax) — both refinements our addition (docs/nnmamba-architecture.md §3). Absent means `peak`.
    public var landmarkRefinement: LandmarkRefinement?
    public var classification: Classification?
    public var algorithm: Algorithm
    /// The window for results drawn over the first input; absent: the modality's default
    /// (docs/results.md, Display window).
    public var displayWindow: DisplayWindow?
    /// The first values of Image Type (0008,0008) the model may run on, e.g. `["ORIGINAL",
    /// "DERIVED"]`; absent: ORIGINAL only (a model trained on acquired images says nothing about
    /// reformatted, lossy or parametric ones).
    public var acceptedImageTypes: [String]?

    /// ``inputLayout`` or its default.
    public var layout: InputLayout { inputLayout ?? InputLayout() }

    /// ``preprocessing``'s recipe or the node's own.
    public var recipe: Preprocessing.Recipe { preprocessing?.recipe ?? .mambanode }

    /// The permutation from the (k, j, i) axes of the layout's grid to the tensor's spatial axes
    /// (tensor axis a holds grid axis `spatialPermutation[a]`, 0 = k): the array order, then
    /// nnU-Net's `transpose_forward`.
    public var spatialPermutation: [Int] {
        let base = layout.array == .nibabelIJK ? [2, 1, 0] : [0, 1, 2]
        guard recipe == .nnunetV1, let forward = preprocessing?.transposeForward else { return base }
        return forward.map { base[$0] }
    }

    /// ``acceptedImageTypes`` or its default.
    public var imageTypes: Set<String> { Set(acceptedImageTypes ?? ["ORIGINAL"]) }

    /// What the exporters write: `input_layout` is required.
    public static let currentFormat = "mambanode-model/2"
    /// Packages written before `input_layout` existed: the node's own layout.
    public static let firstFormat = "mambanode-model/1"
    public static let readableFormats = [currentFormat, firstFormat]
}
