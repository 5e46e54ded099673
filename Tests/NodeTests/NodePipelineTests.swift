import DICOM
import Foundation
import NNMamba
import SampleGenerator
import TestSupport
import Testing

@testable import Node

#if canImport(FoundationNetworking)
    import FoundationNetworking
#endif

#if canImport(Glibc)
    import Glibc
#endif

/// The whole node with the real pipeline: `mambanode serve` (child process), storescu as the
/// modality, DCMTK storescp as the PACS.
@Suite(.serialized) struct NodePipelineTests {
    struct Setup {
        let directory: TemporaryDirectory
        let config: String
        let nodePort: UInt16
        let pacsPort: UInt16
        let httpPort: UInt16
        let pacs: String
        var store: NodeStore {
            NodeStore(database: try! NodeDatabase(path: directory.file("node.sqlite")), router: Router(routes: []))
        }
    }

    /// A node with one CT route to a PACS; `model` is the package folder the route uses (and,
    /// with `secondModel`, a second package the same route runs too).
    static func setup(
        model: (TemporaryDirectory) throws -> String, giveUp: String = "1h", extra: String = "",
        secondModel: ((TemporaryDirectory) throws -> String)? = nil,
        thirdModel: ((TemporaryDirectory) throws -> String)? = nil
    ) throws -> Setup {
        let dir = TemporaryDirectory("pipeline")
        let modelPath = try model(dir)
        let second = try secondModel.map { try $0(dir) }
        let third = try thirdModel.map { try $0(dir) }
        let nodePort = FreePort.allocate(), pacsPort = FreePort.allocate(), httpPort = FreePort.allocate()
        let yaml = """
            node: { ae_title: MAMBANODE, port: \(nodePort), allowed_calling_aes: [CT01] }
            storage: { directory: \(dir.path)/store, database: \(dir.path)/node.sqlite, min_free_disk_mb: 1 }
            http: { port: \(httpPort) }
            logging: { format: text, level: info }
            sending: { first_retry: 1s, max_retry: 2s, give_up: \(giveUp), jitter: 0 }
            destinations: [{ name: pacs, ae_title: PACS, host: 127.0.0.1, port: \(pacsPort) }]
            models: { organs: \(modelPath)\(second.map { ", second: \($0)" } ?? "")\(third.map { ", third: \($0)" } ?? "") }
            routes:
              - { name: ct, models: [organs\(second == nil ? "" : ", second")\(third == nil ? "" : ", third")], destinations: [pacs], match: [{ tag: Modality, equals: CT }], quiet_time: 1s }
            \(extra)
            """
        try yaml.write(toFile: dir.file("node.yaml"), atomically: true, encoding: .utf8)
        return Setup(
            directory: dir, config: dir.file("node.yaml"), nodePort: nodePort, pacsPort: pacsPort, httpPort: httpPort,
            pacs: try dir.subdirectory("pacs"))
    }

    static func untrainedModel(_ dir: TemporaryDirectory) throws -> String {
        try untrainedModel(dir, spacing: 6, patch: 32)
    }

    /// A slower model (finer spacing, several sliding-window patches), so a kill lands during inference.
    static func slowUntrainedModel(_ dir: TemporaryDirectory) throws -> String {
        try untrainedModel(dir, spacing: 2, patch: 64)
    }

    static func untrainedModel(_ dir: TemporaryDirectory, spacing: Double, patch: Int) throws -> String {
        let path = dir.file("model")
        let result = try ExternalTool.run(
            BuiltProducts.mambanode,
            [
                "models", "create-untrained", path, "--spacing", "\(spacing)",
                "--patch", "\(patch)"
            ])
        guard result.status == 0 else { throw ToolError(result.output) }
        return path
    }

    static func startNode(_ s: Setup) async throws -> ChildProcess {
        try await BuiltProducts.serve(config: s.config, logDirectory: s.directory.path, listening: [s.nodePort])
    }

    static func startPACS(_ s: Setup) async throws -> ChildProcess {
        let pacs = try ChildProcess(
            "storescp", ["--aetitle", "PACS", "+xa", "-od", s.pacs, "\(s.pacsPort)"],
            logDirectory: s.directory.path)
        guard await waitUntil({ FreePort.isListening(s.pacsPort) }) else { throw ToolError("storescp did not listen") }
        return pacs
    }

    static func push(_ s: Setup, slices: Int = 16, missingSlice: Bool = false) async throws -> SeriesGenerator.Written {
        var written = try SeriesGenerator.smallAbdomenCT(slices: slices).write(
            to: s.directory.file("input-\(UUID().uuidString.prefix(6))"))
        if missingSlice {
            try FileManager.default.removeItem(atPath: written.files[slices / 2])
            written.files.remove(at: slices / 2)
        }
        let push = try await runTool(
            "storescu", ["-aet", "CT01", "-aec", "MAMBANODE", "127.0.0.1", "\(s.nodePort)"] + written.files)
        guard push.status == 0 else { throw ToolError(push.errorOutput) }
        return written
    }

    static func received(_ s: Setup) -> [String] {
        ((try? FileManager.default.contentsOfDirectory(atPath: s.pacs)) ?? []).sorted().map { s.pacs + "/" + $0 }
    }

    static func http(_ s: Setup, _ path: String) async throws -> String {
        let (data, _) = try await URLSession.shared.data(from: URL(string: "http://127.0.0.1:\(s.httpPort)/\(path)")!)
        return String(decoding: data, as: UTF8.self)
    }

    @Test func segAndSRArriveAtThePACSAndValidate() async throws {
        let s = try Self.setup(model: Self.untrainedModel)
        let pacs = try await Self.startPACS(s)
        let node = try await Self.startNode(s)
        let written = try await Self.push(s)
        #expect(
            await waitUntil(seconds: 120) { Self.received(s).count >= 2 },
            "results never arrived: \(node.standardError)")
        node.signal(SIGTERM)
        #expect(await node.wait() == 0)
        await pacs.stop()

        let files = Self.received(s)
        #expect(files.count == 2)
        var modalities: [String] = []
        for file in files {
            let ds = try DataSet.read(contentsOf: file, headerOnly: true)
            modalities.append(try ds.requiredString(.modality))
            #expect(try ds.string(.studyInstanceUID) == written.studyInstanceUID)
            let check = try await runTool("dciodvfy", [file])
            #expect(!(check.output + check.errorOutput).contains("Error"), "\(file): \(check.errorOutput)")
        }
        #expect(modalities.sorted() == ["SEG", "SR"])
        let job = try #require(try s.store.jobs().first)
        #expect(job.state == .done)
        // The results were fsync'd before their outbox rows were committed.
        #expect(job.timings["flush"] != nil, "\(job.timings)")
        #expect(try s.store.outbox().allSatisfy { $0.state == .sent && $0.lastStatus == "0000" })
    }

    /// An untrained CT package made with another seed, in `dir/name`.
    static func otherUntrainedModel(_ name: String, seed: Int) -> (TemporaryDirectory) throws -> String {
        { dir in
            let path = dir.file(name)
            let result = try ExternalTool.run(
                BuiltProducts.mambanode,
                ["models", "create-untrained", path, "--spacing", "6", "--patch", "32", "--seed", "\(seed)"])
            guard result.status == 0 else { throw ToolError(result.output) }
            return path
        }
    }

    /// Three models on one route: each result pair has its own Series Numbers (900/901 for the
    /// first model, 910/911 for the second, 920/921 for the third), so a viewer of the study can
    /// tell them apart; /metrics counts one series completed, three jobs queued and done, and
    /// three inference times.
    @Test func threeModelsOnOneRouteGetDistinctSeriesNumbers() async throws {
        let s = try Self.setup(
            model: Self.untrainedModel, secondModel: Self.otherUntrainedModel("model2", seed: 2),
            thirdModel: Self.otherUntrainedModel("model3", seed: 3))
        let pacs = try await Self.startPACS(s)
        let node = try await Self.startNode(s)
        _ = try await Self.push(s)
        #expect(
            await waitUntil(seconds: 180) { Self.received(s).count >= 6 },
            "results never arrived: \(node.standardError)")
        let metrics = try await Self.http(s, "metrics")
        for line in [
            "mambanode_series_completed_total 1", "mambanode_jobs_queued_total 3",
            "mambanode_jobs_finished_total{result=\"done\"} 3", "mambanode_inference_seconds_count 3"
        ] {
            #expect(metrics.contains(line), "\(line) not in /metrics:\n\(metrics)")
        }
        node.signal(SIGTERM)
        #expect(await node.wait() == 0)
        await pacs.stop()
        var numbers: [String: [Int]] = [:]
        for file in Self.received(s) {
            let ds = try DataSet.read(contentsOf: file, headerOnly: true)
            numbers[try ds.requiredString(.modality), default: []].append(
                Int(try ds.requiredString(.seriesNumber)) ?? -1)
        }
        #expect(numbers["SEG"]?.sorted() == [900, 910, 920])
        #expect(numbers["SR"]?.sorted() == [901, 911, 921])
        #expect(try s.store.jobs().map(\.model).sorted() == ["organs", "second", "third"])
    }

    @Test func pacsOutageIsRetriedUntilDelivered() async throws {
        let s = try Self.setup(model: Self.untrainedModel)
        let node = try await Self.startNode(s)
        _ = try await Self.push(s)
        // The PACS is down when the results are ready: attempts and backoff show in the API.
        #expect(await waitUntil(seconds: 120) { ((try? s.store.outbox()) ?? []).contains { $0.attempts >= 2 } })
        let outbox = try await Self.http(s, "api/outbox")
        #expect(outbox.contains("\"state\" : \"pending\"") && outbox.contains("\"last_error\""))
        let metrics = try await Self.http(s, "metrics")
        #expect(metrics.contains("mambanode_outbox_pending 2"))
        #expect(metrics.contains("mambanode_sends_total{result=\"failed\"}"))
        // It comes back: a later attempt delivers.
        let pacs = try await Self.startPACS(s)
        #expect(await waitUntil(seconds: 30) { Self.received(s).count >= 2 }, "not delivered after the PACS came back")
        node.signal(SIGTERM)
        #expect(await node.wait() == 0)
        await pacs.stop()
        #expect(try s.store.outbox().allSatisfy { $0.state == .sent })
    }

    @Test func refusedResultIsParkedAndRetryParkedResends() async throws {
        let s = try Self.setup(model: Self.untrainedModel, giveUp: "3s")
        let node = try await Self.startNode(s)
        // A PACS that does not know our calling AE title refuses every association.
        let refusing = try ChildProcess(
            BuiltProducts.mambanode,
            [
                "receive", "--port", "\(s.pacsPort)", "--aet", "PACS",
                "--store", try s.directory.subdirectory("other"),
                "--allow", "SOMEONE"
            ],
            logDirectory: s.directory.path)
        #expect(await waitUntil { FreePort.isListening(s.pacsPort) })
        _ = try await Self.push(s)
        #expect(await waitUntil(seconds: 120) { ((try? s.store.outbox(state: .parked)) ?? []).count == 2 })
        #expect(
            try s.store.outbox().allSatisfy { $0.attempts >= 2 && $0.lastError?.contains("PACS@127.0.0.1") == true })
        refusing.signal(SIGTERM)
        _ = await refusing.wait()
        let pacs = try await Self.startPACS(s)
        let retry = try await runTool(BuiltProducts.mambanode, ["retry", "--config", s.config, "--parked"])
        #expect(retry.output.contains("re-queued 2 parked outbox entries"))
        #expect(await waitUntil(seconds: 30) { Self.received(s).count >= 2 })
        node.signal(SIGTERM)
        #expect(await node.wait() == 0)
        await pacs.stop()
    }

    @Test func badInputFailsTheJobWithAReasonAndTheNodeKeepsServing() async throws {
        let s = try Self.setup(model: Self.untrainedModel)
        let pacs = try await Self.startPACS(s)
        let node = try await Self.startNode(s)
        let broken = try await Self.push(s, missingSlice: true)
        #expect(await waitUntil(seconds: 60) { (try? s.store.series(broken.seriesInstanceUID)?.state) == .failed })
        let failed = try #require(try s.store.jobs().first)
        #expect(failed.state == .failed && failed.reason?.isEmpty == false)
        // The node keeps serving: the next series is processed.
        _ = try await Self.push(s)
        #expect(await waitUntil(seconds: 120) { Self.received(s).count >= 2 })
        let jobs = try await Self.http(s, "api/jobs")
        #expect(jobs.contains("\"state\" : \"failed\"") && jobs.contains("\"state\" : \"done\""))
        node.signal(SIGTERM)
        #expect(await node.wait() == 0)
        await pacs.stop()
        #expect(node.standardError.contains("job failed"))
    }

    /// The memory plan: a series over limits.max_volume_voxels fails its job
    /// with its size before any pixel is decoded; the node keeps serving.
    @Test func seriesOverTheVoxelLimitFailsWithItsSize() async throws {
        let s = try Self.setup(model: Self.untrainedModel, extra: "limits: { max_volume_voxels: 1000 }")
        let node = try await Self.startNode(s)
        let big = try await Self.push(s)
        #expect(await waitUntil(seconds: 60) { (try? s.store.series(big.seriesInstanceUID)?.state) == .failed })
        let failed = try #require(try s.store.jobs().first)
        #expect(failed.reason?.contains("voxels, more than the 1000 allowed") == true, "\(failed.reason ?? "")")
        node.signal(SIGTERM)
        #expect(await node.wait() == 0)
    }

    @Test func modelThatFailsToLoadFailsTheJob() async throws {
        let s = try Self.setup(model: { dir in
            let path = dir.file("broken-model")
            try FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true)
            try "{}".write(toFile: path + "/model.json", atomically: true, encoding: .utf8)
            return path
        })
        let node = try await Self.startNode(s)
        let written = try await Self.push(s)
        #expect(await waitUntil(seconds: 60) { (try? s.store.series(written.seriesInstanceUID)?.state) == .failed })
        let job = try #require(try s.store.jobs().first)
        #expect(job.reason?.contains("format") == true, "\(job.reason ?? "")")
        node.signal(SIGTERM)
        #expect(await node.wait() == 0)
    }

    /// Killed while the series waits for its quiet time: after the restart the stored deadline
    /// still closes it, and it is processed once.
    @Test func restartWhileWaitingForQuietTimeProcessesOnce() async throws {
        let s = try Self.setup(model: Self.untrainedModel)
        let pacs = try await Self.startPACS(s)
        var node = try await Self.startNode(s)
        _ = try await Self.push(s)
        node.signal(SIGKILL)
        _ = await node.wait()
        node = try await Self.startNode(s)
        #expect(await waitUntil(seconds: 120) { Self.received(s).count >= 2 })
        try await Task.sleep(for: .seconds(2))
        node.signal(SIGTERM)
        #expect(await node.wait() == 0)
        await pacs.stop()
        #expect(try s.store.jobs().count == 1)
        #expect(Self.received(s).count == 2, "exactly one copy of each result")
    }

    /// Killed during inference: the interrupted job is queued again on restart, resumes, and the
    /// PACS gets one copy of each result.
    @Test func restartDuringInferenceResumesTheJob() async throws {
        let s = try Self.setup(model: Self.slowUntrainedModel)
        let pacs = try await Self.startPACS(s)
        var node = try await Self.startNode(s)
        _ = try await Self.push(s)
        #expect(await waitUntil(seconds: 60, { ((try? s.store.jobs()) ?? []).contains { $0.state == .processing } }))
        node.signal(SIGKILL)
        _ = await node.wait()
        #expect(try s.store.jobs().first?.state == .processing, "the kill did not land during inference")
        node = try await Self.startNode(s)
        #expect(await waitUntil(seconds: 120) { Self.received(s).count >= 2 })
        try await Task.sleep(for: .seconds(2))
        node.signal(SIGTERM)
        #expect(await node.wait() == 0)
        await pacs.stop()
        let jobs = try s.store.jobs()
        #expect(jobs.count == 1 && jobs[0].state == .done)
        #expect(jobs[0].attempts == 2)
        #expect(Self.received(s).count == 2, "exactly one copy of each result")
    }

    /// Killed after encoding, before the PACS took the results: the restarted node sends the
    /// same objects (same SOP Instance UIDs) once the PACS is there.
    @Test func restartBeforeSendingDeliversTheSameObjectsOnce() async throws {
        let s = try Self.setup(model: Self.untrainedModel)
        var node = try await Self.startNode(s)
        _ = try await Self.push(s)
        #expect(await waitUntil(seconds: 120) { ((try? s.store.outbox()) ?? []).count == 2 })
        let queued = Set(try s.store.outbox().map(\.sopInstanceUID))
        node.signal(SIGKILL)
        _ = await node.wait()
        let pacs = try await Self.startPACS(s)
        node = try await Self.startNode(s)
        #expect(await waitUntil(seconds: 60) { Self.received(s).count >= 2 })
        try await Task.sleep(for: .seconds(2))
        node.signal(SIGTERM)
        #expect(await node.wait() == 0)
        await pacs.stop()
        let arrived = try Set(
            Self.received(s).map { try DataSet.read(contentsOf: $0, headerOnly: true).requiredString(.sopInstanceUID) })
        #expect(arrived == queued)
        #expect(Self.received(s).count == 2)
        #expect(try s.store.jobs().count == 1)
    }

    /// A study-level route with two required series: the first series
    /// alone produces nothing; once the second arrives, one job runs with both as its inputs.
    @Test func studyRouteWaitsForBothSeries() async throws {
        let dir = TemporaryDirectory("study")
        var manifest = TestModelPackage.manifest(
            task: "segmentation", architecture: "nnMambaSeg", inChannels: 2, channels: 16,
            blocks: 2, outputs: 3, normalization: ["kind": "zscore"],
            targetSpacing: [6, 6, 6], patchSize: [32, 32, 32])
        manifest["inputs"] = [
            ["name": "t1", "normalization": ["kind": "zscore"]],
            ["name": "flair", "normalization": ["kind": "zscore"]]
        ]
        let model = try TestModelPackage(
            manifest: manifest,
            weights: TestModelPackage.syntheticWeights(
                NNMambaSeg.Configuration(inChannels: 2, channels: 16, blocks: 2, classes: 3))
        ).write(to: dir.file("model"))
        let nodePort = FreePort.allocate(), pacsPort = FreePort.allocate()
        try """
        node: { ae_title: MAMBANODE, port: \(nodePort), allowed_calling_aes: [MR01] }
        storage: { directory: \(dir.path)/store, database: \(dir.path)/node.sqlite, min_free_disk_mb: 1 }
        http: { port: 0 }
        destinations: [{ name: pacs, ae_title: PACS, host: 127.0.0.1, port: \(pacsPort) }]
        models: { brain: \(model) }
        routes:
          - name: brain
            level: study
            match: [{ tag: Modality, equals: MR }]
            channels:
              - { name: t1, match: [{ tag: SeriesDescription, equals: T1 }] }
              - { name: flair, match: [{ tag: SeriesDescription, equals: FLAIR }] }
            model: brain
            destinations: [pacs]
            quiet_time: 2s
        """.write(toFile: dir.file("node.yaml"), atomically: true, encoding: .utf8)
        let s = Setup(
            directory: dir, config: dir.file("node.yaml"), nodePort: nodePort, pacsPort: pacsPort, httpPort: 0,
            pacs: try dir.subdirectory("pacs"))
        let pacs = try await Self.startPACS(s)
        let node = try await Self.startNode(s)

        var generator = SeriesGenerator()
        generator.modality = .mr
        generator.signed = false
        generator.bitsStored = 12
        generator.rows = 40
        generator.columns = 40
        generator.slices = 12
        generator.pixelSpacing = (5, 5)
        generator.sliceSpacing = 6
        generator.phantom = .headMR(size: 180)
        generator.seriesDescription = "T1"
        let t1 = try generator.write(to: dir.file("t1"))
        generator.studyInstanceUID = t1.studyInstanceUID
        generator.seriesDescription = "FLAIR"
        generator.seed = 2
        let flair = try generator.write(to: dir.file("flair"))

        func push(_ files: [String]) async throws {
            let r = try await runTool(
                "storescu", ["-aet", "MR01", "-aec", "MAMBANODE", "127.0.0.1", "\(nodePort)"] + files)
            #expect(r.status == 0, "\(r.errorOutput)")
        }
        try await push(t1.files)
        try await Task.sleep(for: .seconds(5))
        #expect(try s.store.jobs().isEmpty, "no job with one channel missing")
        #expect(try s.store.series(t1.seriesInstanceUID)?.state == .stable)
        try await push(flair.files)
        #expect(await waitUntil(seconds: 120) { Self.received(s).count >= 2 }, "\(node.standardError)")
        node.signal(SIGTERM)
        #expect(await node.wait() == 0)
        await pacs.stop()
        let jobs = try s.store.jobs()
        #expect(jobs.count == 1 && jobs[0].level == .study && jobs[0].state == .done)
        #expect(jobs[0].inputs == ["t1": [t1.seriesInstanceUID], "flair": [flair.seriesInstanceUID]])
        #expect(try s.store.study(t1.studyInstanceUID)?.state == .done)
    }
}
