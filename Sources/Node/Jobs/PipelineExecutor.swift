import DICOM
import Foundation
import ModelPackage
import Pipeline
import Results
import Synchronization
import Volume

/// The node's job executor: the job's input series from the store, the route's model, results
/// under `<store>/results/job-<id>`. Models are loaded once and kept (weights are read-only).
/// Inference runs on a thread of its own so the node's async services keep their threads.
public final class PipelineExecutor: JobExecutor {
    let configuration: NodeConfiguration
    let store: any NodeStateStore
    let encoderConfiguration: ResultEncoderConfiguration
    let uids: UIDGenerator
    private let producers = Mutex<[String: ResultProducer]>([:])
    /// Assembled volumes and normalised inputs that the jobs of several models on one series
    /// share: a series' volume and its normalised input kept at a time, dropped when no job is left.
    let sharedInputs = SharedInputs(capacity: 2)

    public init(configuration: NodeConfiguration, store: any NodeStateStore, encoder: ResultEncoderConfiguration) throws
    {
        self.configuration = configuration
        self.store = store
        encoderConfiguration = encoder
        uids = configuration.uids
    }

    public var resultsDirectory: String { configuration.storage.directory + "/results" }

    public func run(_ job: JobRecord, progress: @escaping @Sendable (JobStep) throws -> Void) async throws -> JobOutput
    {
        // What the job needs from the store, read here: the job's own thread does not wait on it.
        var files: [String: [String]] = [:]
        for uid in Set(job.inputs.values.joined()) { files[uid] = try await store.instances(ofSeries: uid).map(\.path) }
        let expectedUses = await jobsStillToAssemble(sharingInputsOf: job)
        // 8 MiB, the main thread's stack: a job runs decoders, engine and encoders on this one thread.
        let outcome = await runOnDedicatedThread(name: "job-\(job.id ?? 0)", stackSize: 8 << 20) { [self, files] in
            Result { try self.runBlocking(job, files: files, expectedUses: expectedUses, progress: progress) }
        }
        await dropSharedInputsWhenIdle()
        return try outcome.get()
    }

    /// The job on the calling thread; `files` holds the stored files of each input series.
    func runBlocking(
        _ job: JobRecord, files: [String: [String]], expectedUses: Int, progress: (JobStep) throws -> Void
    ) throws -> JobOutput {
        let route = configuration.routes.first { $0.name == job.route }
        let slot = route?.seriesSlot(of: job.model) ?? 0
        // RT Structure Set, presentation state, overlays and key objects only when a destination
        // of the route takes them.
        let outputs = (route?.destinations ?? []).reduce(into: Set<EncodedObject.Kind>()) {
            $0.formUnion(configuration.destination(named: $1)?.outputs ?? [])
        }
        let producer = try self.producer(for: job.model, seriesSlot: slot)
        let inputs = job.inputs
        var series: [Series] = []
        for (index, input) in producer.package.manifest.inputs.enumerated() {
            // Series-level jobs have one input under "image"; study-level ones one per channel name.
            let uid = inputs[input.name]?.first ?? (index == 0 && inputs.count == 1 ? inputs.values.first?.first : nil)
            guard let uid else {
                throw JobFailure(
                    "no series for input '\(input.name)' of model '\(job.model)' (route channels must be named after the model's inputs)"
                )
            }
            let files = files[uid] ?? []
            let scanned = Series.scan(files: files)
            guard let found = scanned.first(where: { $0.seriesInstanceUID == uid }) else {
                throw JobFailure("series \(uid): \(Self.whyNoImage(files))")
            }
            series.append(found)
        }
        let directory = resultsDirectory + "/job-\(job.id ?? 0)"
        let produced = try producer.produce(
            series, version: job.version, caveats: job.caveats, outputs: outputs, imageTypes: route?.imageTypes,
            into: directory, sharing: sharedInputs, expectedUses: expectedUses, turn: job.id.map { Int($0) },
            progress: { step in try progress(JobStep(step)) })
        // The outbox rows that the runner commits next point at these files: they must be on
        // disk first, or a power loss could leave rows pointing at empty files.
        let started = ContinuousClock.now
        do throws(DICOMError) {
            try DurableFiles.sync(
                files: produced.encoded.objects.map(\.path), directories: [directory, resultsDirectory])
        } catch {
            throw JobFailure("results of job \(job.id ?? 0) not made durable: \(error)")
        }
        var timings = produced.timings
        let flush = ContinuousClock.now - started
        timings["flush", default: 0] += Double(flush.components.seconds) + Double(flush.components.attoseconds) / 1e18
        return JobOutput(
            objects: produced.encoded.objects.map { ($0.path, $0.sopInstanceUID, $0.kind) }, timings: timings,
            warnings: produced.warnings)
    }

    /// Jobs that have yet to assemble an input series of `job` (queued, or processing at the
    /// assemble step), this one included: how many will ask for its shared inputs.
    func jobsStillToAssemble(sharingInputsOf job: JobRecord) async -> Int {
        let series = Set(job.inputs.values.joined())
        guard let queued = try? await store.jobs(state: .queued),
            let processing = try? await store.jobs(state: .processing)
        else {
            return 1
        }
        let others = (queued + processing.filter { $0.step == .assemble }).filter {
            $0.id != job.id && !series.isDisjoint(with: $0.inputs.values.joined())
        }
        return 1 + others.count
    }

    /// With no job queued or running, nothing will ask for a kept input again (a job that failed
    /// before asking leaves its share behind): free it.
    func dropSharedInputsWhenIdle() async {
        // Counted, not read: this runs after every job.
        guard let counts = try? await store.counts(),
            counts.jobs[.queued, default: 0] == 0 && counts.jobs[.processing, default: 0] <= 1
        else { return }
        sharedInputs.removeAll()
    }

    /// Why none of a series' stored files is an image the node can assemble, the commonest reason
    /// first with its count (e.g. "not an image (no Rows/Columns) in 5 of 5 instances").
    static func whyNoImage(_ files: [String]) -> String {
        guard !files.isEmpty else { return "no instance of it is in the store" }
        var reasons: [String: Int] = [:]
        for path in files {
            do throws(VolumeError) {
                _ = try Instance(contentsOf: path)
            } catch {
                // The reason without the file's path, so equal reasons count together.
                reasons[error.reason.replacingOccurrences(of: path, with: "the file"), default: 0] += 1
            }
        }
        let listed = reasons.sorted { $0.value > $1.value }.map {
            "\($0.key) in \($0.value) of \(files.count) instances"
        }
        return listed.isEmpty
            ? "its \(files.count) instances are readable but belong to no series of this UID"
            : "no instance is an image the node can assemble: " + listed.joined(separator: "; ")
    }

    /// The model's producer, its results numbered in `seriesSlot` (Route.seriesSlot(of:)).
    func producer(for model: String, seriesSlot: Int = 0) throws -> ResultProducer {
        let key = "\(model)#\(seriesSlot)"
        if let cached = producers.withLock({ $0[key] }) { return cached }
        guard let directory = configuration.models[model] else {
            throw JobFailure("model '\(model)' is not configured")
        }
        var assembly = AssemblyOptions()
        assembly.maximumVoxels = configuration.limits.maxVolumeVoxels
        var encoder = encoderConfiguration
        encoder.firstSeriesNumber += Route.seriesNumbersPerModel * seriesSlot
        let producer = try ResultProducer(
            package: try ModelPackage(directory: directory), encoder: encoder, uids: uids,
            assembly: assembly)
        producers.withLock { $0[key] = producer }
        return producer
    }
}
