import ArgumentParser
import Foundation
import Logging
import Node
import SampleGenerator

#if canImport(Glibc)
    import Glibc
#endif

/// `mambanode bench cluster`: several nodes on one PostgreSQL database (docs/cluster.md). A
/// receive-and-send node takes `--series` small CT series; then 1, then 2 worker-only processes
/// (one job at a time each) run the queued jobs of a small untrained model. Prints jobs per
/// minute for each, the queue's time between one job's end and the same worker's next start,
/// and the claim itself timed in this process against the same server (one claimer, then two
/// at once). Each run has a database and store of its own; the server is private to the bench.
public struct BenchClusterCommand: AsyncParsableCommand {
    public init() {}

    public static let configuration = CommandConfiguration(
        commandName: "cluster",
        abstract: "Jobs per minute with 1 and 2 worker processes on one PostgreSQL, and the claim overhead per job."
    )

    @Option(help: "Series received, one job each.") var series = 24
    @Option(help: "Slices per series.") var slices = 16
    @Option(help: "Worker process counts to compare.") var workers: [Int] = [1, 2]
    @Option(help: "Jobs claimed in the claim timing.") var claims = 400

    struct Run {
        var workers: Int
        var seconds: Double
        var jobsPerMinute: Double
        /// Mean time from a job's end to the same worker's next claim taking effect.
        var gapMilliseconds: Double
        var failed: Int
    }

    public func run() async throws {
        let work = FileManager.default.temporaryDirectory.path + "/mambanode-bench-cluster-\(getpid())"
        try FileManager.default.createDirectory(atPath: work, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: work) }
        let me =
            (try? FileManager.default.destinationOfSymbolicLink(atPath: "/proc/self/exe")) ?? CommandLine.arguments[0]
        print("starting a private PostgreSQL server …")
        let postgres = try await ScratchPostgreSQL.start(in: work)
        do {
            try await measureAll(postgres: postgres, work: work, me: me)
        } catch {
            await postgres.stop()
            throw error
        }
        await postgres.stop()
    }

    func measureAll(postgres: ScratchPostgreSQL, work: String, me: String) async throws {
        let model = work + "/model"
        try ModelsCreateUntrainedCommand.parse([model, "--spacing", "6", "--patch", "32"]).run()
        print("generating \(series) CT series of \(slices) × 48² …")
        var inputs: [[String]] = []
        for index in 0..<series {
            var generator = SeriesGenerator.smallAbdomenCT(slices: slices)
            generator.seed = UInt64(index + 1)
            inputs.append(try generator.write(to: work + "/input-\(index)").files)
        }
        var runs: [Run] = []
        for count in workers {
            print("\(count) worker process\(count == 1 ? "" : "es") …")
            runs.append(
                try await measure(workers: count, inputs: inputs, model: model, postgres: postgres, work: work, me: me))
        }
        let (one, two) = try await timeClaims(postgres: postgres, work: work)

        print("")
        print(
            "bench cluster: \(series) series of \(slices) × 48², untrained model (6 mm, 32³ patch), one job at a time per worker"
        )
        for run in runs {
            let speedUp = runs.first.map { run.jobsPerMinute / $0.jobsPerMinute } ?? 1
            print(
                String(
                    format: "  %d worker%@  %6.1f s  %6.1f jobs/min  ×%.2f  between jobs %.1f ms%@", run.workers,
                    run.workers == 1 ? " " : "s", run.seconds, run.jobsPerMinute, speedUp, run.gapMilliseconds,
                    run.failed > 0 ? "  (\(run.failed) failed)" : ""))
        }
        print(String(format: "  claim (FOR UPDATE SKIP LOCKED + lease + subject), %d jobs:", claims))
        print(String(format: "    one claimer   %.2f ms per claim", one))
        print(String(format: "    two at once   %.2f ms per claim each", two))
        print(
            "  This machine has \(ProcessInfo.processInfo.activeProcessorCount) cores: worker processes share them "
                + "with the receiver and PostgreSQL, so the speed-up of a second worker is bounded by the cores, "
                + "not by the queue.")
    }

    /// One run: a fresh database and store; all series received and queued before the workers
    /// start, so the figure is the workers' alone (from the first claim to the last job's end).
    func measure(
        workers: Int, inputs: [[String]], model: String, postgres: ScratchPostgreSQL, work: String, me: String
    ) async throws -> Run {
        let database = "bench_\(workers)"
        try await postgres.psql("CREATE DATABASE \(database)", database: "postgres")
        let url = "postgresql://mambanode@127.0.0.1:\(postgres.port)/\(database)?sslmode=disable"
        let store = "\(work)/store-\(workers)"
        let pacsPort = BenchNodeCommand.freePort()
        try FileManager.default.createDirectory(atPath: "\(work)/pacs-\(workers)", withIntermediateDirectories: true)
        func config(_ name: String, roles: String, port: UInt16) throws -> String {
            let path = "\(work)/\(name)-\(workers).yaml"
            try """
            node: { name: \(name), roles: [\(roles)], ae_title: MAMBANODE, port: \(port), accept_any_calling_ae: true }
            storage: { directory: \(store), database: "\(url)", min_free_disk_mb: 1 }
            http: { port: 0 }
            audit: { enabled: false }
            max_concurrent_jobs: 1
            overlap_jobs: false
            logging: { format: text, level: warning }
            destinations: [{ name: pacs, ae_title: PACS, host: 127.0.0.1, port: \(pacsPort) }]
            models: { organs: \(model) }
            routes:
              - { name: ct, model: organs, destinations: [pacs], match: [{ tag: Modality, equals: CT }], quiet_time: 1s }
            """.write(toFile: path, atomically: true, encoding: .utf8)
            return path
        }
        let pacs = try Child("storescp", ["--aetitle", "PACS", "+xa", "-od", "\(work)/pacs-\(workers)", "\(pacsPort)"])
        defer { pacs.kill() }
        let receiverPort = BenchNodeCommand.freePort()
        let receiver = try Child(
            me, ["serve", "--config", try config("receiver", roles: "receive, send", port: receiverPort)])
        defer { receiver.kill() }
        try await BenchIngestCommand.waitForEcho(port: receiverPort)
        for files in inputs {
            let push = try Child(
                "storescu", ["-aet", "BENCH", "-aec", "MAMBANODE", "127.0.0.1", "\(receiverPort)"] + files)
            guard await push.wait() == 0 else { throw ValidationError("storescu failed") }
        }
        let workerConfigs = try (1...workers).map { try config("worker\($0)", roles: "work", port: 1) }
        let configuration = try NodeConfiguration.load(from: try config("reader", roles: "http", port: 1))
        var logger = Logger(label: "bench")
        logger.logLevel = .error
        let reader = try NodeServer.openStore(configuration, logger: logger)
        let expected = inputs.count
        return try await reader.withRunning(migrating: false) {
            while try await reader.jobs(state: .queued).count < expected {
                guard receiver.isRunning else { throw ValidationError("the receiver stopped") }
                try await Task.sleep(for: .milliseconds(100))
            }
            var children: [Child] = []
            for path in workerConfigs { children.append(try Child(me, ["serve", "--config", path])) }
            defer { for child in children { child.kill() } }
            var jobs: [JobRecord] = []
            while true {
                jobs = try await reader.jobs(state: nil)
                if jobs.allSatisfy({ $0.state == .done || $0.state == .failed }) { break }
                guard children.allSatisfy(\.isRunning) else { throw ValidationError("a worker stopped") }
                try await Task.sleep(for: .milliseconds(100))
            }
            let first = jobs.compactMap(\.startedAt).min() ?? Date()
            let last = jobs.compactMap(\.finishedAt).max() ?? Date()
            let seconds = last.timeIntervalSince(first)
            var gaps: [Double] = []
            for (_, mine) in Dictionary(grouping: jobs, by: { $0.leaseOwner ?? "" }) {
                let ordered = mine.sorted { ($0.startedAt ?? .distantPast) < ($1.startedAt ?? .distantPast) }
                for (previous, next) in zip(ordered, ordered.dropFirst()) {
                    if let end = previous.finishedAt, let start = next.startedAt {
                        gaps.append(start.timeIntervalSince(end))
                    }
                }
            }
            return Run(
                workers: workers, seconds: seconds, jobsPerMinute: Double(jobs.count) / seconds * 60,
                gapMilliseconds: gaps.isEmpty ? 0 : gaps.reduce(0, +) / Double(gaps.count) * 1000,
                failed: jobs.filter { $0.state == .failed }.count)
        }
    }

    /// Mean milliseconds per `claimNextJob` on `claims` queued jobs: one claimer, then two at once.
    func timeClaims(postgres: ScratchPostgreSQL, work: String) async throws -> (one: Double, two: Double) {
        try await postgres.psql("CREATE DATABASE bench_claims", database: "postgres")
        let configuration = try NodeConfiguration.parse(
            """
            storage: { directory: \(work)/store-claims, database: "postgresql://mambanode@127.0.0.1:\(postgres.port)/bench_claims?sslmode=disable" }
            """)
        var logger = Logger(label: "bench")
        logger.logLevel = .error
        let store = try NodeServer.openStore(configuration, logger: logger)
        let count = claims
        return try await store.withRunning(migrating: true) {
            func queue() async throws {
                try await postgres.psql(
                    """
                    INSERT INTO job ("route", "model", "subjectUID", "level", "version", "state", "step", "attempts",
                      "inputs", "timings", "correlationID", "createdAt")
                    SELECT 'ct', 'organs', '1.2.3.' || n || '.' || clock_timestamp(), 'series', 1, 'queued', 'assemble', 0,
                      '{}', '{}', 'bench', now() FROM generate_series(1, \(count)) n
                    """, database: "bench_claims")
            }
            try await queue()
            var start = ContinuousClock.now
            while try await store.claimNextJob(now: Date()) != nil {}
            let one = BenchNodeCommand.seconds(ContinuousClock.now - start) * 1000 / Double(count)
            try await queue()
            start = ContinuousClock.now
            try await withThrowingTaskGroup(of: Void.self) { group in
                for _ in 0..<2 { group.addTask { while try await store.claimNextJob(now: Date()) != nil {} } }
                try await group.waitForAll()
            }
            // Two claimers at once: each claim's time is the wall time over half the claims.
            let two = BenchNodeCommand.seconds(ContinuousClock.now - start) * 1000 / Double(count / 2)
            return (one, two)
        }
    }
}
