import ArgumentParser
import Foundation
import Node
import SampleGenerator

#if canImport(Glibc)
    import Glibc
#endif

/// `mambanode bench node`: the whole node under load. Four concurrent storescu pushes of
/// a CT series each into a running `mambanode serve` with a model package, DCMTK storescp as the
/// PACS; prints ingest images/s, the time from the last instance to the last result acknowledged
/// by the PACS (minus the quiet time) broken down by job step, and the node's peak memory.
public struct BenchNodeCommand: AsyncParsableCommand {
    public init() {}

    public static let configuration = CommandConfiguration(
        commandName: "node",
        abstract: "Time the node end to end: 4 concurrent pushes, inference, SEG/SR to a PACS."
    )

    @Option(help: "Series pushed concurrently.") var series = 4
    @Option(help: "Slices per series.") var slices = 200
    @Option(help: "Rows and columns per slice.") var size = 512
    @Option(help: "Model package (default: an untrained CT package made for the run).") var model: String?

    public func run() async throws {
        let work = FileManager.default.temporaryDirectory.path + "/mambanode-bench-node-\(getpid())"
        try FileManager.default.createDirectory(atPath: work + "/pacs", withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: work) }
        let me =
            (try? FileManager.default.destinationOfSymbolicLink(atPath: "/proc/self/exe")) ?? CommandLine.arguments[0]

        print("generating \(series) CT series of \(slices) × \(size)² …")
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
        let modelPath = model ?? work + "/model"
        if model == nil {
            try ModelsCreateUntrainedCommand.parse([modelPath]).run()
        }
        let nodePort = Self.freePort(), pacsPort = Self.freePort()
        let quiet = 2.0
        try """
        node: { ae_title: MAMBANODE, port: \(nodePort), accept_any_calling_ae: true }
        storage: { directory: \(work)/store, database: \(work)/node.sqlite, min_free_disk_mb: 1 }
        http: { port: 0 }
        logging: { format: text, level: warning }
        destinations: [{ name: pacs, ae_title: PACS, host: 127.0.0.1, port: \(pacsPort) }]
        models: { model: \(modelPath) }
        routes:
          - { name: ct, model: model, destinations: [pacs], match: [{ tag: Modality, equals: CT }], quiet_time: \(quiet)s }
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
        print(
            String(
                format: "ingest: %d instances in %.2f s = %.0f images/s (%d concurrent associations)",
                total, ingest, Double(total) / ingest, series))

        let expected = 2 * series
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
        var steps: [String: Double] = [:]
        for job in try store.jobs() {
            for (step, seconds) in job.timings { steps[step, default: 0] += seconds }
        }
        print(
            String(
                format:
                    "last instance → last result acknowledged by the PACS: %.2f s (%.2f s without the %.0f s quiet time)",
                done, done - quiet, quiet))
        print("job steps, summed over \(series) jobs (one job at a time):")
        for (step, seconds) in steps.sorted(by: { $0.value > $1.value }) {
            print("  " + step.padding(toLength: 16, withPad: " ", startingAt: 0) + String(format: "%7.2f s", seconds))
        }
        print(
            peak.map { String(format: "node peak resident memory: %.0f MiB", $0) }
                ?? "node peak resident memory: unknown")
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
