import DICOM
import Foundation
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

/// Several `mambanode serve` processes on one private PostgreSQL server and one store folder
/// (docs/cluster.md), storescu as the modalities and DCMTK storescp as the PACS, on loopback.
@Suite(.serialized) struct ClusterTests {
    struct Member {
        let name: String
        let config: String
        let port: UInt16
        let httpPort: UInt16
    }

    struct Cluster {
        let directory: TemporaryDirectory
        let postgres: RunningPostgreSQL
        let pacsPort: UInt16
        let pacs: String
        let members: [Member]

        func sql(_ query: String) throws -> String { try postgres.psql(query) }

        /// The SOP Instance UIDs the PACS received, one per file it wrote.
        func receivedUIDs() throws -> [String] {
            try ((try? FileManager.default.contentsOfDirectory(atPath: pacs)) ?? []).sorted().map {
                try DataSet.read(contentsOf: pacs + "/" + $0, headerOnly: true).requiredString(.sopInstanceUID)
            }
        }
    }

    /// `count` nodes named a, b, c… sharing the server and `<dir>/store`; each with its own
    /// ports, audit file and log. `lease` is `node.job_lease`; `roles` gives a node's
    /// `node.roles` (default all).
    static func makeCluster(
        nodes count: Int = 3, lease: String = "4s", roles: [String: String] = [:],
        model: (TemporaryDirectory) throws -> String
    ) async throws -> Cluster {
        let dir = TemporaryDirectory("cluster")
        let postgres = try await RunningPostgreSQL.start(in: dir)
        let modelPath = try model(dir)
        let pacsPort = FreePort.allocate()
        var members: [Member] = []
        for name in ["a", "b", "c", "d"].prefix(count) {
            let port = FreePort.allocate(), httpPort = FreePort.allocate()
            let yaml = """
                node: { name: \(name), ae_title: MAMBANODE, port: \(port), allowed_calling_aes: [CT01], job_lease: \(lease), roles: [\(roles[name] ?? "receive, work, send, http")] }
                storage: { directory: \(dir.path)/store, database: "\(postgres.url)?sslmode=disable", min_free_disk_mb: 1 }
                http: { port: \(httpPort) }
                audit: { file: \(dir.path)/audit-\(name).jsonl }
                logging: { format: text, level: info }
                sending: { first_retry: 1s, max_retry: 2s, give_up: 1h, jitter: 0 }
                destinations: [{ name: pacs, ae_title: PACS, host: 127.0.0.1, port: \(pacsPort) }]
                models: { organs: \(modelPath) }
                routes:
                  - { name: ct, model: organs, destinations: [pacs], match: [{ tag: Modality, equals: CT }], quiet_time: 2s }
                """
            let config = dir.file("node-\(name).yaml")
            try yaml.write(toFile: config, atomically: true, encoding: .utf8)
            members.append(Member(name: name, config: config, port: port, httpPort: httpPort))
        }
        return Cluster(
            directory: dir, postgres: postgres, pacsPort: pacsPort, pacs: try dir.subdirectory("pacs"), members: members
        )
    }

    static func start(_ member: Member, in cluster: Cluster) async throws -> ChildProcess {
        try await BuiltProducts.serve(
            config: member.config, logDirectory: cluster.directory.path, listening: [member.port])
    }

    static func startPACS(_ cluster: Cluster) async throws -> ChildProcess {
        let pacs = try ChildProcess(
            "storescp", ["--aetitle", "PACS", "+xa", "-od", cluster.pacs, "\(cluster.pacsPort)"],
            logDirectory: cluster.directory.path)
        guard await waitUntil({ FreePort.isListening(cluster.pacsPort) }) else {
            throw ToolError("storescp did not listen")
        }
        return pacs
    }

    static func series(in cluster: Cluster, slices: Int = 12) throws -> SeriesGenerator.Written {
        return try SeriesGenerator.smallAbdomenCT(slices: slices).write(
            to: cluster.directory.file("input-\(UUID().uuidString.prefix(6))"))
    }

    static func push(_ files: [String], to member: Member) async throws {
        let push = try await runTool(
            "storescu", ["-aet", "CT01", "-aec", "MAMBANODE", "127.0.0.1", "\(member.port)"] + files)
        guard push.status == 0 else {
            throw ToolError("storescu to node \(member.name) exited \(push.status): \(push.errorOutput) \(push.output)")
        }
    }

    static func stopAll(_ children: [ChildProcess]) async {
        for child in children where child.isRunning { child.signal(SIGTERM) }
        for child in children { _ = await child.wait() }
    }

    @Test func aSeriesPushedHalfToEachOfTwoNodesIsOneSeriesOneJobAndOneResult() async throws {
        let cluster = try await Self.makeCluster(model: NodePipelineTests.untrainedModel)
        let pacs = try await Self.startPACS(cluster)
        var nodes: [ChildProcess] = []
        for member in cluster.members { nodes.append(try await Self.start(member, in: cluster)) }
        let written = try Self.series(in: cluster, slices: 16)
        try await Self.push(Array(written.files.prefix(8)), to: cluster.members[0])
        try await Self.push(Array(written.files.suffix(8)), to: cluster.members[1])
        let arrived = await waitUntil(seconds: 120) { ((try? cluster.receivedUIDs()) ?? []).count >= 2 }
        try await Task.sleep(for: .seconds(3)) // anything sent twice would have arrived by now
        await Self.stopAll(nodes)
        await pacs.stop()
        let logs = nodes.map(\.standardError).joined(separator: "\n---\n")
        #expect(arrived, "results never arrived: \(logs)")
        #expect(try cluster.sql("SELECT count(*) FROM series") == "1")
        #expect(try cluster.sql(#"SELECT "instanceCount" FROM series"#) == "16")
        #expect(
            try cluster.sql(#"SELECT count(*) || ' ' || min("state") || ' ' || max("attempts") FROM job"#) == "1 done 1"
        )
        let received = try cluster.receivedUIDs()
        #expect(received.count == 2 && Set(received).count == 2, "SEG and SR, once each: \(received)")
        #expect(try cluster.sql(#"SELECT count(*) FROM outbox WHERE "state" = 'sent'"#) == "2")
        await cluster.postgres.stop()
    }

    /// Node c only receives and serves the API: a and b run the jobs.
    @Test func twelveSeriesAcrossTheNodesRunEachJobExactlyOnce() async throws {
        let cluster = try await Self.makeCluster(roles: ["c": "receive, http"], model: NodePipelineTests.untrainedModel)
        let pacs = try await Self.startPACS(cluster)
        var nodes: [ChildProcess] = []
        for member in cluster.members { nodes.append(try await Self.start(member, in: cluster)) }
        var pushes: [Task<Void, any Error>] = []
        for index in 0..<12 {
            let files = try Self.series(in: cluster, slices: 8).files
            let member = cluster.members[index % cluster.members.count]
            pushes.append(Task { try await Self.push(files, to: member) })
        }
        for push in pushes { try await push.value }
        let done = await waitUntil(seconds: 300) {
            (try? cluster.sql(#"SELECT count(*) FROM job WHERE "state" IN ('done', 'failed')"#)) == "12"
                && ((try? cluster.receivedUIDs()) ?? []).count >= 24
        }
        try await Task.sleep(for: .seconds(3))
        // Every node's API shows the same, whole cluster.
        var views: Set<String> = []
        for member in cluster.members {
            let (data, _) = try await URLSession.shared.data(
                from: URL(string: "http://127.0.0.1:\(member.httpPort)/api/jobs")!)
            let jobs = try JSONSerialization.jsonObject(with: data) as? [[String: Any]] ?? []
            views.insert(
                jobs.map { "\($0["id"] ?? "") \($0["state"] ?? "") \($0["node"] ?? "")" }.sorted().joined(
                    separator: ","))
            #expect(jobs.count == 12)
        }
        // Its metrics have the cluster's gauges.
        let (metricsData, _) = try await URLSession.shared.data(
            from: URL(string: "http://127.0.0.1:\(cluster.members[2].httpPort)/metrics")!)
        let metrics = String(decoding: metricsData, as: UTF8.self)
        // So does `mambanode status`, with the nodes and the node that ran each job.
        let status = try ExternalTool.run(BuiltProducts.mambanode, ["status", "--config", cluster.members[2].config])
        await Self.stopAll(nodes)
        await pacs.stop()
        let logs = nodes.map(\.standardError).joined(separator: "\n---\n")
        #expect(done, "not every job finished: \(logs)")
        #expect(status.status == 0 && status.output.contains("Nodes (3)") && status.output.contains("Jobs (12)"))
        #expect(status.output.contains("  a  alive") && status.output.contains("  node "), "\(status.output)")
        #expect(views.count == 1, "the nodes' APIs disagree")
        #expect(try cluster.sql(#"SELECT count(*) FROM job WHERE "state" = 'done' AND "attempts" = 1"#) == "12")
        #expect(
            try cluster.sql(#"SELECT string_agg(DISTINCT "leaseOwner", ',' ORDER BY "leaseOwner") FROM job"#) == "a,b",
            "the workers shared the work; the receive-only node ran none")
        #expect(
            metrics.contains("mambanode_nodes_alive 3") && metrics.contains("mambanode_oldest_queued_job_age_seconds 0")
        )
        #expect(metrics.contains(#"mambanode_jobs{state="done"} 12"#), "\(metrics)")
        let received = try cluster.receivedUIDs()
        #expect(received.count == 24 && Set(received).count == 24, "no result sent twice")
        await cluster.postgres.stop()
    }

    @Test func aKilledWorkersJobIsTakenOverAfterItsLeaseAndDeliveredOnce() async throws {
        let cluster = try await Self.makeCluster(nodes: 2, model: NodePipelineTests.slowUntrainedModel)
        let pacs = try await Self.startPACS(cluster)
        var a = try await Self.start(cluster.members[0], in: cluster)
        // B joins once A has claimed the job, so that A runs it.
        try await Self.push(try Self.series(in: cluster, slices: 40).files, to: cluster.members[0])
        let claimed = await waitUntil(seconds: 60) {
            (try? cluster.sql(#"SELECT "leaseOwner" || ' ' || "step" FROM job WHERE "state" = 'processing'"#))
                .map { $0.hasPrefix("a ") } == true
        }
        #expect(claimed, "A never claimed the job: \(a.standardError)")
        let b = try await Self.start(cluster.members[1], in: cluster)
        a.signal(SIGKILL)
        #expect(await a.wait() == 128 + SIGKILL)
        let delivered = await waitUntil(seconds: 180) { ((try? cluster.receivedUIDs()) ?? []).count >= 2 }
        try await Task.sleep(for: .seconds(3))
        #expect(delivered, "B never delivered: \(b.standardError)")
        #expect(
            try cluster.sql(#"SELECT "state" || ' ' || "attempts" || ' ' || "leaseOwner" FROM job"#) == "done 2 b",
            "taken over once, by B, as a second attempt")
        #expect(b.standardError.contains("jobs of a node that stopped answering were taken over"))
        let received = try cluster.receivedUIDs()
        #expect(received.count == 2 && Set(received).count == 2)
        // A comes back: nothing is run or sent again.
        a = try await Self.start(cluster.members[0], in: cluster)
        try await Task.sleep(for: .seconds(4))
        await Self.stopAll([a, b])
        await pacs.stop()
        #expect(try cluster.receivedUIDs().count == 2)
        #expect(try cluster.sql("SELECT count(*) FROM job") == "1")
        await cluster.postgres.stop()
    }

    @Test func aKilledSendersDestinationIsDeliveredByAnotherNodeAfterThePACSReturns() async throws {
        let cluster = try await Self.makeCluster(nodes: 2, model: NodePipelineTests.untrainedModel)
        // The PACS is down; A runs the job and holds the destination's sender.
        let a = try await Self.start(cluster.members[0], in: cluster)
        try await Self.push(try Self.series(in: cluster).files, to: cluster.members[0])
        let failing = await waitUntil(seconds: 120) {
            (try? cluster.sql(#"SELECT count(*) FROM outbox WHERE "attempts" >= 1"#)) == "2"
        }
        #expect(failing, "A never tried to send: \(a.standardError)")
        let b = try await Self.start(cluster.members[1], in: cluster)
        try await Task.sleep(for: .seconds(2))
        #expect(!b.standardError.contains("sending for destination"), "B must not send while A holds the sender")
        a.signal(SIGKILL)
        #expect(await a.wait() == 128 + SIGKILL)
        let uids = try cluster.sql(#"SELECT string_agg("sopInstanceUID", ',' ORDER BY "sopInstanceUID") FROM outbox"#)
        let pacs = try await Self.startPACS(cluster)
        let delivered = await waitUntil(seconds: 60) { ((try? cluster.receivedUIDs()) ?? []).count >= 2 }
        try await Task.sleep(for: .seconds(3))
        await Self.stopAll([b])
        await pacs.stop()
        #expect(delivered, "B never delivered: \(b.standardError)")
        #expect(b.standardError.contains("sending for destination"))
        #expect(try cluster.receivedUIDs().sorted().joined(separator: ",") == uids, "the same UIDs, once each")
        await cluster.postgres.stop()
    }

    @Test func nodesCarryOnAfterPostgreSQLRestartsAndLoseNothingAcknowledged() async throws {
        let cluster = try await Self.makeCluster(nodes: 2, model: NodePipelineTests.untrainedModel)
        let pacs = try await Self.startPACS(cluster)
        let nodes = [
            try await Self.start(cluster.members[0], in: cluster), try await Self.start(cluster.members[1], in: cluster)
        ]
        let first = try Self.series(in: cluster)
        try await Self.push(first.files, to: cluster.members[0])
        // The database goes away and comes back on the same port and data.
        await cluster.postgres.stop()
        let restarted = try await cluster.postgres.restart()
        let second = try Self.series(in: cluster)
        // A modality retries what the node refused while the database was away (storescu exits
        // non-zero on a refused instance): push until accepted.
        var accepted = false
        for _ in 0..<10 where !accepted {
            accepted = (try? await Self.push(second.files, to: cluster.members[1])) != nil
            if !accepted { try await Task.sleep(for: .seconds(1)) }
        }
        #expect(accepted)
        let done = await waitUntil(seconds: 180) { ((try? cluster.receivedUIDs()) ?? []).count >= 4 }
        await Self.stopAll(nodes)
        await pacs.stop()
        #expect(done, "\(nodes.map(\.standardError).joined(separator: "\n---\n"))")
        let sql = { (q: String) in try restarted.psql(q) }
        #expect(try sql("SELECT count(*) FROM instance") == "\(first.files.count + second.files.count)")
        #expect(try sql(#"SELECT count(*) FROM job WHERE "state" = 'done'"#) == "2")
        #expect(Set(try cluster.receivedUIDs()).count == 4)
        await restarted.stop()
    }
}
