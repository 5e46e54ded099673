import DICOM

/// The acquisition attributes of one MR sequence, as a 3 T scanner writes them in the MR Image
/// Module (PS3.3 C.8.3.1) and Contrast/Bolus Module (C.7.6.4). Values are typical of clinical
/// brain protocols; they describe the synthetic contrast, they do not produce it.
public struct MRSequence: Sendable, Equatable {
    /// Series Description (0008,103E): what study-level routes match channels on.
    public var seriesDescription: String
    /// Scanning Sequence (0018,0020): SE, IR, GR, EP, RM (backslash-separated).
    public var scanningSequence: String
    /// Sequence Variant (0018,0021): SK, MTC, SS, TRSS, SP, MP, OSP, NONE.
    public var sequenceVariant: String
    /// Scan Options (0018,0022), type 2 (may be empty).
    public var scanOptions: String
    /// MR Acquisition Type (0018,0023): 2D or 3D.
    public var acquisitionType: String
    public var sequenceName: String
    /// Repetition Time (0018,0080), Echo Time (0018,0081), Inversion Time (0018,0082) in ms.
    public var repetitionTime: Double
    public var echoTime: Double
    public var inversionTime: Double?
    public var flipAngle: Double
    public var echoTrainLength: Int
    /// Contrast/Bolus Agent (0018,0010) for post-contrast series.
    public var contrastAgent: String?

    public init(
        seriesDescription: String, scanningSequence: String, sequenceVariant: String, scanOptions: String,
        acquisitionType: String, sequenceName: String, repetitionTime: Double, echoTime: Double,
        inversionTime: Double? = nil, flipAngle: Double, echoTrainLength: Int, contrastAgent: String? = nil
    ) {
        self.seriesDescription = seriesDescription
        self.scanningSequence = scanningSequence
        self.sequenceVariant = sequenceVariant
        self.scanOptions = scanOptions
        self.acquisitionType = acquisitionType
        self.sequenceName = sequenceName
        self.repetitionTime = repetitionTime
        self.echoTime = echoTime
        self.inversionTime = inversionTime
        self.flipAngle = flipAngle
        self.echoTrainLength = echoTrainLength
        self.contrastAgent = contrastAgent
    }

    /// 3D T1 MPRAGE (inversion-prepared gradient echo).
    public static let t1 = MRSequence(
        seriesDescription: "T1", scanningSequence: "GR\\IR", sequenceVariant: "SK\\SP\\MP",
        scanOptions: "IR", acquisitionType: "3D", sequenceName: "tfl3d1", repetitionTime: 2300,
        echoTime: 2.98, inversionTime: 900, flipAngle: 9, echoTrainLength: 1)
    /// The same MPRAGE after a gadolinium-based contrast agent.
    public static let t1ce: MRSequence = {
        var s = t1
        s.seriesDescription = "T1CE"
        s.contrastAgent = "Gadobutrol"
        return s
    }()
    /// 2D T2 turbo spin echo.
    public static let t2 = MRSequence(
        seriesDescription: "T2", scanningSequence: "SE", sequenceVariant: "SK\\SP",
        scanOptions: "", acquisitionType: "2D", sequenceName: "tse2d1_15", repetitionTime: 5000,
        echoTime: 100, flipAngle: 150, echoTrainLength: 15)
    /// 2D T2 FLAIR (inversion recovery turbo spin echo, CSF nulled).
    public static let flair = MRSequence(
        seriesDescription: "FLAIR", scanningSequence: "SE\\IR", sequenceVariant: "SK\\SP\\MP",
        scanOptions: "IR", acquisitionType: "2D", sequenceName: "tir2d1_16", repetitionTime: 9000,
        echoTime: 90, inversionTime: 2500, flipAngle: 150, echoTrainLength: 16)

    /// Writes the MR Image Module attributes (Echo Time is written per echo by the generator).
    func apply(to ds: DataSet, spacingBetweenSlices: Double) throws {
        try ds.set(.scanningSequence, scanningSequence)
        try ds.set(.sequenceVariant, sequenceVariant)
        try ds.set(.scanOptions, scanOptions)
        try ds.set(.mrAcquisitionType, acquisitionType)
        try ds.set(.sequenceName, sequenceName)
        try ds.set(.repetitionTime, repetitionTime)
        // Inversion Time is type 2C: required when Scanning Sequence includes IR.
        if let inversionTime { try ds.set(.inversionTime, inversionTime) }
        try ds.set(.flipAngle, flipAngle)
        try ds.set(.echoTrainLength, echoTrainLength)
        try ds.set(.magneticFieldStrength, 3.0)
        try ds.set(.imagingFrequency, 123.25)
        try ds.set(.imagedNucleus, "1H")
        try ds.set(.spacingBetweenSlices, spacingBetweenSlices)
        try ds.set(.protocolName, seriesDescription)
        if let contrastAgent { try ds.set(.contrastBolusAgent, contrastAgent) }
        try ds.set(.bodyPartExamined, "HEAD")
    }
}
