import DICOM
import Foundation
import ModelPackage
import Results
import Volume

/// One model applied to source series, from DICOM instances to SEG/SR files: assemble the
/// volumes, run the inference pipeline, encode the result on the first input's source grid
/// (the job's steps in docs/architecture.md, Data flow). Shared by the node's job runner and
/// `mambanode process`; knows nothing of the node's database or network.
public struct ResultProducer: Sendable {
    public let package: ModelPackage
    let pipeline: InferencePipeline
    let encoder: ResultEncoder
    /// How input series are assembled (e.g. the node's `limits.max_volume_voxels`).
    let assembly: AssemblyOptions

    public init(
        package: ModelPackage, encoder configuration: ResultEncoderConfiguration, uids: UIDGenerator,
        assembly: AssemblyOptions = AssemblyOptions()
    ) throws {
        self.package = package
        self.assembly = assembly
        pipeline = try InferencePipeline(package: package)
        encoder = try ResultEncoder(manifest: package.manifest, configuration: configuration, uids: uids)
    }

    /// The steps of a run, in order, as `produce` reports them.
    public enum Step: String, Sendable, CaseIterable {
        case assemble, infer, encode
    }

    /// What one run produced.
    public struct Produced: Sendable {
        /// What the model found, without the label voxels (they are in the SEG).
        public enum Outcome: Sendable {
            case segmentation
            case landmarks([String: LandmarkPosition])
            case classification(ClassificationScore)
        }

        public var encoded: EncodedResult
        public var outcome: Outcome
        /// How the input was prepared for the network and the output mapped back.
        public var record: PreprocessingRecord
        /// Seconds per job step (assemble, preprocess, infer, postprocess, encode).
        public var timings: [String: Double]
        /// Warnings from volume assembly (left-out instances, other stacks).
        public var warnings: [String]
    }

    /// Runs the model on `series` (one per manifest input, in the manifest's order) and writes
    /// the results into `directory` as result `version`; `caveats` go into the SR as comments.
    /// `imageTypes`: the route's narrowing of the Image Types the model accepts.
    /// `outputs`: the objects to write besides SEG and SR (RT Structure Set, presentation state,
    /// Secondary Capture overlays, Key Objects), those some destination takes.
    /// `progress` is told each step reached. With `sharing`, the assembled volumes and the
    /// normalised network input are shared with the other jobs on the same series: `expectedUses`
    /// jobs in all, this one included, are expected to ask (`SharedInputs`). `turn` is the job's
    /// place in line for the forward pass (`ForwardPassGate`).
    public func produce(
        _ series: [Series], version: Int, caveats: [String] = [], outputs: Set<EncodedObject.Kind> = [],
        imageTypes: Set<String>? = nil, into directory: String, sharing: SharedInputs? = nil, expectedUses: Int = 1,
        turn: Int? = nil, progress: (Step) throws -> Void = { _ in }
    ) throws -> Produced {
        let inputs = package.manifest.inputs
        guard series.count == inputs.count else {
            throw JobFailure("model '\(package.manifest.name)' takes \(inputs.count) input series, got \(series.count)")
        }
        var timings: [String: Double] = [:]
        var clock = ContinuousClock.now
        func lap(_ step: String) {
            let now = ContinuousClock.now
            let d = now - clock
            timings[step, default: 0] += Double(d.components.seconds) + Double(d.components.attoseconds) / 1e18
            clock = now
        }

        try progress(.assemble)
        var volumes: [Volume] = []
        var warnings: [String] = []
        var reference: (series: Series, volume: Volume)?
        let keys = series.map { assemblyKey($0) }
        for (index, s) in series.enumerated() {
            let assembly =
                try sharing?.value(for: keys[index], expectedUses: expectedUses) {
                    try s.assemble(options: self.assembly)
                } ?? s.assemble(options: self.assembly)
            try checkImageTypes(assembly, of: s, input: inputs[index].name, narrowedTo: imageTypes)
            warnings += assembly.warnings.map { "\(inputs[index].name): \($0)" }
            if let first = reference?.volume, first.geometry != assembly.volume.geometry {
                // Multi-channel models see every channel on the first channel's grid (nnU-Net
                // expects co-registered inputs; series of one study share the frame of reference).
                volumes.append(assembly.volume.resampled(to: first.geometry, interpolation: .linear))
                warnings.append("\(inputs[index].name): resampled onto the grid of \(inputs[0].name)")
            } else {
                volumes.append(assembly.volume)
            }
            if reference == nil { reference = (s, assembly.volume) }
        }
        // The source's voxels are needed after the forward pass only to draw views (presentation
        // state windows, Secondary Capture overlays); without views the pipeline releases them
        // once its tensor is made, so the forward pass and the encoding run without them.
        let source: SourceImages
        if outputs.isSubset(of: [.segmentation, .report]) {
            let first = reference!.volume
            source = try SourceImages(
                geometry: first.geometry, sources: first.sources, frameOfReferenceUID: first.frameOfReferenceUID,
                series: reference!.series)
        } else {
            source = try SourceImages(volume: reference!.volume, series: reference!.series)
        }
        reference = nil
        lap("assemble")

        try progress(.infer)
        let inference = try pipeline.run(
            consume volumes, sharing: sharing, inputKey: keys.joined(separator: "+"), expectedUses: expectedUses,
            turn: turn)
        for timing in inference.timings { timings[timing.step.rawValue, default: 0] += timing.seconds }
        let record = inference.record
        let output = (consume inference).output
        clock = ContinuousClock.now

        try progress(.encode)
        // A run starts over in an empty directory: an interrupted job's half-written attempt was never sent.
        try? FileManager.default.removeItem(atPath: directory)
        let encoded: EncodedResult
        let outcome: Produced.Outcome
        switch consume output {
        case .segmentation(let labels):
            // The 16-bit label map replaces the Float volume before the SEG is packed.
            let labelMap = try LabelMap(consume labels, on: source.geometry)
            outcome = .segmentation
            encoded = try encoder.encodeSegmentation(
                labelMap, source: source, version: version,
                comments: caveats, outputs: outputs, into: directory)
        case .classification(let score):
            outcome = .classification(score)
            encoded = try encoder.encodeClassification(
                probability: score.probability, source: source, version: version,
                comments: caveats, outputs: outputs, into: directory)
        case .landmarks(let byName):
            outcome = .landmarks(byName)
            let positions = try (package.manifest.landmarks ?? []).map { landmark in
                guard let position = byName[landmark.name] else {
                    throw JobFailure("no position for landmark '\(landmark.name)'")
                }
                return position.patient
            }
            encoded = try encoder.encodeLandmarks(
                positions, source: source, version: version, comments: caveats, outputs: outputs,
                into: directory)
        }
        lap("encode")
        return Produced(
            encoded: encoded, outcome: outcome, record: record, timings: timings,
            warnings: warnings + encoded.notWritten)
    }

    /// What decides a series' assembly: its UID, its files and the assembly options.
    func assemblyKey(_ series: Series) -> String {
        let files = series.instances.map(\.path).sorted().joined(separator: "\n")
        return "assembly|\(series.seriesInstanceUID)|\(assembly)|\(files)"
    }

    /// Refuses a volume assembled from images whose Image Type (0008,0008) value 1 the model does
    /// not accept (model.json `accepted_image_types`, ORIGINAL only by default), or the route
    /// does not (`image_types`). An instance without Image Type is not refused.
    func checkImageTypes(
        _ assembly: Assembly, of series: Series, input: String, narrowedTo route: Set<String>?
    )
        throws
    {
        let accepted = package.manifest.imageTypes.intersection(route ?? package.manifest.imageTypes)
        let used = Set(assembly.layout.slices.map(\.sopInstanceUID))
        var found: [String: Int] = [:]
        for instance in series.instances where used.contains(instance.sopInstanceUID) {
            guard let type = instance.imageType.first, !type.isEmpty, !accepted.contains(type) else { continue }
            found[instance.imageType.joined(separator: "\\"), default: 0] += 1
        }
        guard let (type, count) = found.max(by: { $0.value < $1.value }) else { return }
        throw JobFailure(
            "series \(series.seriesInstanceUID) (input \(input)): Image Type \(type) on \(count) of \(used.count) "
                + "instances; model '\(package.manifest.name)' runs on \(accepted.sorted().joined(separator: ", ")) images only "
                + "(model.json accepted_image_types\(route == nil ? "" : ", route image_types"))")
    }
}
