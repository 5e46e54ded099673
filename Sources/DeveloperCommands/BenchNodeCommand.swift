import ArgumentParser
import Foundation
import ModelPackage
import Node
import Pipeline
import SampleGenerator

#if canImport(Glibc)
    import Glibc
#endif

/// `mambanode bench node`: the whole node under load. Four concurrent storescu pushes of
/// a CT series each into a running `mambanode serve` with a model package (the shipped
/// ct-organs sample when run from the repository), DCMTK storescp as the PACS; prints ingest
/// images/s, each job's steps against its forward pass, the node's peak memory and, last, the
/// time from the last instance to the last result acknowledged by the PACS split into the
/// network's forward passes, the quiet time and everything else.
public struct BenchNodeCommand: AsyncParsableCommand {
    public init() {}

    public static let configuration = CommandConfiguration(
        commandName: "node",
        abstract: "Time the node end to end: 4 concurrent pushes, inference, SEG/SR to a PACS."
    )

    @Option(help: "Series pushed concurrently.") var series = 4
    @Option(help: "Slices per series.") var slices = 200
    @Option(help: "Rows and columns per slice.") var size = 512
    @Option(
        help: """
            Model package, repeated for several models on each series (default: the sample CT models \
            ct-classify, ct-organs and ct-landmarks under Samples/models, in the order Config/node.yaml \
            routes them, else an untrained CT package).
            """)
    var model: [String] = []
    @Flag(help: "Print the figures as one JSON object instead of text.") var json = false
    @Flag(
        inversion: .prefixedNo,
        help: "overlap_jobs of the node (one job assembles or encodes during another's forward pass).")
    var overlapJobs = true

    public func run() async throws {
        let work = FileManager.default.temporaryDirectory.path + "/mambanode-bench-node-\(getpid())"
        try FileManager.default.createDirectory(atPath: work + "/pacs", withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: work) }
        let me =
            (try? FileManager.default.destinationOfSymbolicLink(atPath: "/proc/self/exe")) ?? CommandLine.arguments[0]

        func say(_ line: String) { if !json { print(line) } }
        say("generating \(series) CT series of \(slices) × \(size)² …")
        var inputs: [[String]] = []
        for index in 0..<series {
            var generator = SeriesGenerator()
            generator.rows = size
            generator.columns = size
            generator.slices = slices
            generator.pixelSpacing = (0.7 * 512 / Double(size), 0.7 * 512 / Double(size))
            generator.sliceSpacing = 1.5
            generator.phantom = .abdomenCT(size: 340)
            generator.seed = UInt64(index + 1)
            inputs.append(try generator.write(to: work + "/input-\(index)").files)
        }
        let samples = ["ct-classify", "ct-organs", "ct-landmarks"].map {
            FileManager.default.currentDirectoryPath + "/Samples/models/" + $0
        }
        let modelPaths =
            !model.isEmpty
            ? model
            : samples.allSatisfy { FileManager.default.fileExists(atPath: $0 + "/model.json") }
                ? samples : [work + "/model"]
        for path in modelPaths where !FileManager.default.fileExists(atPath: path + "/model.json") {
            try ModelsCreateUntrainedCommand.parse([path]).run()
        }
        // What reaches the PACS per series: a SEG and an SR from a segmentation, an SR otherwise.
        let objectsPerSeries = try modelPaths.map {
            try ModelPackage(directory: $0).manifest.task == .segmentation ? 2 : 1
        }.reduce(0, +)
        let names = modelPaths.indices.map { "model\($0 + 1)" }
        let nodePort = Self.freePort(), pacsPort = Self.freePort()
        let quiet = 2.0
        try """
        node: { ae_title: MAMBANODE, port: \(nodePort), accept_any_calling_ae: true }
        storage: { directory: \(work)/store, database: \(work)/node.sqlite, min_free_disk_mb: 1 }
        http: { port: 0 }
        overlap_jobs: \(overlapJobs)
        logging: { format: text, level: warning }
        destinations: [{ name: pacs, ae_title: PACS, host: 127.0.0.1, port: \(pacsPort) }]
        models: { \(zip(names, modelPaths).map { "\($0): \($1)" }.joined(separator: ", ")) }
        routes:
          - { name: ct, models: [\(names.joined(separator: ", "))], destinations: [pacs], match: [{ tag: Modality, equals: CT }], quiet_time: \(quiet)s }
        """.write(toFile: work + "/node.yaml", atomically: true, encoding: .utf8)
        let pacs = try Child("storescp", ["--aetitle", "PACS", "+xa", "-od", work + "/pacs", "\(pacsPort)"])
        defer { pacs.kill() }
        let node = try Child(me, ["serve", "--config", work + "/node.yaml"])
        defer { node.kill() }
        try await BenchIngestCommand.waitForEcho(port: nodePort)

        let start = ContinuousClock.now
        let senders = try inputs.map { files in
            try Child("storescu", ["-aet", "BENCH", "-aec", "MAMBANODE", "127.0.0.1", "\(nodePort)"] + files)
        }
        for sender in senders { _ = await sender.wait() }
        let ingest = Self.seconds(ContinuousClock.now - start)
        let lastInstance = Date()
        let total = inputs.map(\.count).reduce(0, +)

        let expected = objectsPerSeries * series
        while ((try? FileManager.default.contentsOfDirectory(atPath: work + "/pacs"))?.count ?? 0) < expected {
            guard node.isRunning else { throw ValidationError("the node stopped") }
            try await Task.sleep(for: .milliseconds(50))
        }
        let done = Date().timeIntervalSince(lastInstance)
        let peak = Self.peakResidentMiB(pid: node.processIdentifier)
        node.signal(SIGTERM)
        _ = await node.wait()

        let configuration = try NodeConfiguration.load(from: work + "/node.yaml")
        let store = NodeStore(
            database: try NodeDatabase(path: configuration.storage.databasePath), router: Router(routes: []))
        let sent = try store.outbox(state: .sent)
        let figures = try Figures(
            store: store, sent: sent, lastInstance: lastInstance, done: done, quiet: quiet,
            ingest: (total, ingest, series), peakMiB: peak, models: modelPaths)
        if json {
            let encoder = JSONEncoder()
            encoder.outputFormatting = [.prettyPrinted, .sortedKeys]
            print(String(decoding: try encoder.encode(figures), as: UTF8.self))
        } else {
            figures.printText()
        }
    }

    /// What one run measured; `--json` prints it as is. "Network" is the model's forward pass
    /// (the job step of that name, docs/inference.md): the goal is a node that adds little
    /// to it. The associations that deliver results are reported apart, as sending.
    struct Figures: Encodable {
        struct Job: Encodable {
            var id: Int64
            /// The route's name for the job's model (model1, model2, … in `--model` order).
            var model: String
            /// The forward pass (sliding window or whole volume).
            var networkSeconds: Double
            /// Every other step (assemble, resampling, postprocessing, encode, …), summed.
            var otherStepsSeconds: Double
            var steps: [String: Double]
            /// Other steps over network time: the goal is at most 0.25.
            var otherOverNetwork: Double
            /// The associations that delivered its results (wall time, overlapping jobs).
            var sendingSeconds: Double
            /// Seconds after the last instance at which the job was queued, started, settled and
            /// its last result acknowledged: the timeline shows which steps no other job hid.
            var queuedAt: Double
            var startedAt: Double?
            var finishedAt: Double?
            var acknowledgedAt: Double?
        }
        var models: [String]
        var instances: Int
        var ingestSeconds: Double
        var imagesPerSecond: Double
        var associations: Int
        var jobs: [Job]
        var peakResidentMiB: Double?
        /// Last instance received → last result acknowledged by the PACS.
        var lastInstanceToAllAcknowledgedSeconds: Double
        /// The jobs' forward passes (one job at a time, so they add up).
        var networkSeconds: Double
        var quietSeconds: Double
        /// The rest: the other steps, sending and waiting, as far as they did not overlap.
        var otherStepsSeconds: Double
        /// Wall time after the last instance during which some association was sending results.
        var sendingSeconds: Double

        init(
            store: NodeStore, sent: [OutboxRecord], lastInstance: Date, done: Double, quiet: Double,
            ingest: (count: Int, seconds: Double, associations: Int), peakMiB: Double?, models: [String]
        ) throws {
            self.models = models
            instances = ingest.count
            ingestSeconds = ingest.seconds
            imagesPerSecond = Double(ingest.count) / ingest.seconds
            associations = ingest.associations
            peakResidentMiB = peakMiB
            let forward = InferenceError.Step.network.rawValue
            jobs = try store.jobs().map { job in
                let network = job.timings[forward] ?? 0
                let other = job.timings.filter { $0.key != forward }.values.reduce(0, +)
                return Job(
                    id: job.id ?? 0, model: job.model, networkSeconds: network, otherStepsSeconds: other,
                    steps: job.timings,
                    otherOverNetwork: other / max(network, 1e-9),
                    sendingSeconds: Self.union(sent.filter { $0.jobID == job.id }.compactMap(Self.interval)),
                    queuedAt: job.createdAt.timeIntervalSince(lastInstance),
                    startedAt: job.startedAt?.timeIntervalSince(lastInstance),
                    finishedAt: job.finishedAt?.timeIntervalSince(lastInstance),
                    acknowledgedAt: sent.filter { $0.jobID == job.id }.compactMap(\.sentAt).max()?
                        .timeIntervalSince(lastInstance))
            }
            lastInstanceToAllAcknowledgedSeconds = done
            networkSeconds = jobs.map(\.networkSeconds).reduce(0, +)
            let end = lastInstance.addingTimeInterval(done)
            sendingSeconds = Self.union(
                sent.compactMap(Self.interval).compactMap { start, stop in
                    let a = max(start, lastInstance), b = min(stop, end)
                    return a < b ? (a, b) : nil
                })
            quietSeconds = quiet
            otherStepsSeconds = max(0, done - networkSeconds - quiet)
        }

        static func interval(_ entry: OutboxRecord) -> (Date, Date)? {
            guard let start = entry.lastAttemptAt, let stop = entry.sentAt else { return nil }
            return (start, stop)
        }

        /// Seconds covered by the union of the intervals.
        static func union(_ intervals: [(Date, Date)]) -> Double {
            var total = 0.0
            var current: (Date, Date)?
            for (start, stop) in intervals.sorted(by: { $0.0 < $1.0 }) {
                if let c = current, start <= c.1 {
                    current = (c.0, max(c.1, stop))
                } else {
                    if let c = current { total += c.1.timeIntervalSince(c.0) }
                    current = (start, stop)
                }
            }
            if let c = current { total += c.1.timeIntervalSince(c.0) }
            return total
        }

        func printText() {
            print(
                String(
                    format: "ingest: %d instances in %.2f s = %.0f images/s (%d concurrent associations)",
                    instances, ingestSeconds, imagesPerSecond, associations))
            for (index, path) in models.enumerated() { print("model\(index + 1): \(path)") }
            print("per job: the network's forward pass against every other step (goal: other ≤ 25 % of network):")
            for job in jobs {
                let steps = job.steps.filter { $0.value >= 0.005 }.sorted { $0.value > $1.value }
                    .map { $0.key + String(format: " %.2f", $0.value) }
                print(
                    "  job \(job.id) (\(job.model)): "
                        + String(
                            format: "network %.2f s, other steps %.2f s = %.0f %%, results sent in %.2f s",
                            job.networkSeconds, job.otherStepsSeconds, 100 * job.otherOverNetwork, job.sendingSeconds)
                        + " [" + steps.joined(separator: ", ") + "]")
                let times = [
                    ("queued", job.queuedAt), ("started", job.startedAt), ("done", job.finishedAt),
                    ("acknowledged", job.acknowledgedAt)
                ].compactMap { name, at in
                    at.map { name + String(format: " %+.2f", $0) }
                }
                print("    after the last instance: " + times.joined(separator: ", "))
            }
            print(
                peakResidentMiB.map { String(format: "node peak resident memory: %.0f MiB", $0) }
                    ?? "node peak resident memory: unknown")
            print(String(format: "after the last instance, results were being sent for %.2f s", sendingSeconds))
            print(
                String(
                    format:
                        "last instance → all results acknowledged: %.2f s (network %.2f s, other steps %.2f s, quiet time %.2f s)",
                    lastInstanceToAllAcknowledgedSeconds, networkSeconds, otherStepsSeconds, quietSeconds))
        }
    }

    static func seconds(_ d: Duration) -> Double {
        Double(d.components.seconds) + Double(d.components.attoseconds) / 1e18
    }

    static func freePort() -> UInt16 {
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        defer { close(fd) }
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_addr.s_addr = inet_addr("127.0.0.1")
        var length = socklen_t(MemoryLayout<sockaddr_in>.size)
        _ = withUnsafeMutablePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(fd, $0, length) }
        }
        _ = withUnsafeMutablePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { getsockname(fd, $0, &length) }
        }
        return UInt16(bigEndian: address.sin_port)
    }

    /// VmHWM of a process (peak resident set), from /proc.
    static func peakResidentMiB(pid: Int32) -> Double? {
        guard let status = try? String(contentsOfFile: "/proc/\(pid)/status", encoding: .utf8),
            let line = status.split(separator: "\n").first(where: { $0.hasPrefix("VmHWM:") }),
            let kb = Double(line.split(separator: " ").dropFirst().first ?? "")
        else { return nil }
        return kb / 1024
    }
}
