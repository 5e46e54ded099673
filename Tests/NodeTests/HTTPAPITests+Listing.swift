import Foundation
import Logging
import TestSupport
import Testing

@testable import Node

#if canImport(FoundationNetworking)
    import FoundationNetworking
#endif

/// `/api/series`, `/api/jobs` and `/api/outbox` in pages (`limit`, `after`, `order`, filters):
/// following each page's `Link: rel="next"` visits every row once, in order; and `/api/latency`.
extension HTTPAPITests {
    func getPage(_ port: UInt16, _ path: String) async throws -> (status: Int, rows: [[String: Any]], next: String?) {
        let (data, response) = try await URLSession.shared.data(from: URL(string: "http://127.0.0.1:\(port)/\(path)")!)
        let http = response as? HTTPURLResponse
        let rows = (try? JSONSerialization.jsonObject(with: data)) as? [[String: Any]] ?? []
        // <path?query>; rel="next"
        let next = http?.value(forHTTPHeaderField: "Link").flatMap { link -> String? in
            guard let open = link.firstIndex(of: "<"), let close = link.firstIndex(of: ">") else { return nil }
            return String(link[link.index(after: open)..<close].dropFirst())
        }
        return (http?.statusCode ?? 0, rows, next)
    }

    /// A store on a route of two models, holding one instance of each series, received at the
    /// given times.
    func storeWithSeries(_ file: String, received: [(uid: String, at: Date)]) throws -> (NodeStore, NodeConfiguration) {
        let configuration = try NodeConfiguration.parse(
            """
            destinations: [{ name: pacs, ae_title: PACS, host: 127.0.0.1, port: 4242 }]
            models: { organs: /models/organs, spleen: /models/spleen }
            routes:
              - { name: ct, models: [organs, spleen], destinations: [pacs], match: [{ tag: Modality, equals: CT }], quiet_time: 10s }
            """)
        let store = NodeStore(
            database: try NodeDatabase(path: directory.file(file)), router: Router(routes: configuration.routes))
        for (n, (uid, at)) in received.enumerated() {
            let arrival = InstanceArrival(
                record: InstanceRecord(
                    sopInstanceUID: uid + ".1", sopClassUID: "1.2.840.10008.5.1.4.1.1.2", seriesInstanceUID: uid,
                    studyInstanceUID: "1.2.3", path: "/store/\(n).dcm", transferSyntaxUID: "1.2.840.10008.1.2.1",
                    callingAETitle: "CT01", calledAETitle: "MAMBANODE", sourceAddress: "127.0.0.1",
                    associationID: "a\(n)", receivedAt: at),
                expectedCount: nil, routing: RoutingInput(attributes: [.modality: ["CT"]], callingAETitle: "CT01"))
            try store.record(arrival, correlationID: "c", durability: .atCommit)
        }
        return (store, configuration)
    }

    @Test func listingsComeInPagesWithFilters() async throws {
        let t0 = Date(timeIntervalSince1970: 1_800_000_000)
        // 7 series received a second apart, in an order their UIDs do not follow.
        let uids = (0..<7).map { "1.2.3.\(70 - 7 * $0)" }
        let (store, _) = try storeWithSeries(
            "list.sqlite", received: uids.enumerated().map { ($1, t0.addingTimeInterval(Double($0))) })
        #expect(try store.closeStableSeries(now: t0.addingTimeInterval(60)).count == 14)
        let api = HTTPAPI(store: store, metrics: NodeMetrics()) { .init(problems: []) }
        try await serving(api) { port in
            // Series by first receipt (not by UID), 3 to a page.
            var seen: [String] = []
            var next: String? = "api/series?limit=3"
            var pages = 0
            while let path = next {
                let page = try await getPage(port, path)
                #expect(page.status == 200)
                seen += page.rows.compactMap { $0["series_instance_uid"] as? String }
                next = page.next
                pages += 1
            }
            #expect(seen == uids && pages == 3, "the last, short page has no next link")

            // Jobs newest first, filtered by model; the next link keeps the filter.
            let first = try await getPage(port, "api/jobs?model=spleen&order=newest&limit=4")
            let ids = first.rows.compactMap { $0["id"] as? Int }
            #expect(ids.count == 4 && ids == ids.sorted(by: >))
            #expect(first.rows.allSatisfy { $0["model"] as? String == "spleen" })
            let second = try await getPage(port, try #require(first.next))
            #expect(second.rows.count == 3 && second.rows.allSatisfy { $0["model"] as? String == "spleen" })
            #expect((second.rows.first?["id"] as? Int).map { $0 < ids.last! } == true)
            #expect(try await getPage(port, "api/jobs?state=queued").rows.count == 14, "no limit: every row")
            #expect(try await getPage(port, "api/outbox?state=pending&limit=10").rows.isEmpty)

            // Mistakes are named.
            for (path, words) in [
                ("api/jobs?limit=0", "limit must be 1…1000"), ("api/jobs?state=running", "state must be one of"),
                ("api/series?model=x", "unknown parameter 'model'"), ("api/outbox?job_id=x", "job_id must be a number"),
                ("api/series?order=up", "order must be oldest or newest"),
                ("api/jobs?limit=5&after=x", "after must be the id")
            ] {
                let (data, response) = try await URLSession.shared.data(
                    from: URL(string: "http://127.0.0.1:\(port)/\(path)")!)
                #expect((response as? HTTPURLResponse)?.statusCode == 400, "\(path)")
                #expect(String(decoding: data, as: UTF8.self).contains(words), "\(path)")
            }
        }
    }

    /// `/api/latency`: per model, the time from a series' last instance to its job's last object
    /// acknowledged, over jobs whose every object was delivered in the window.
    @Test func latencyRunsFromLastInstanceToLastAcknowledgementPerModel() async throws {
        let now = Date()
        let (store, configuration) = try storeWithSeries(
            "latency.sqlite",
            received: [("1.2.3.1", now.addingTimeInterval(-600)), ("1.2.3.2", now.addingTimeInterval(-300))])
        try store.closeStableSeries(now: now.addingTimeInterval(-200))
        let policy = RetryPolicy(configuration.sending)
        // Seconds before now at which each object of each job was acknowledged; nil: still pending.
        let sent: [String: [Double?]] = [
            "1.2.3.1 organs": [590, 580], "1.2.3.1 spleen": [570], "1.2.3.2 organs": [260], "1.2.3.2 spleen": [nil]
        ]
        while let job = try store.claimNextJob(now: now.addingTimeInterval(-200)) {
            let times = try #require(sent["\(job.subjectUID) \(job.model)"])
            let objects = times.indices.map { (path: "/r/\(job.id!)-\($0).dcm", sopInstanceUID: "9.\(job.id!).\($0)") }
            try store.completeJob(
                jobID: job.id!, objects: objects, destinations: ["pacs"], timings: [:],
                now: now.addingTimeInterval(-200))
            for (entry, ago) in zip(try store.outbox(Listing(filters: ["jobID": "\(job.id!)"])), times) {
                guard let ago else { continue }
                try store.recordAttempt(
                    entryID: entry.id!, outcome: .sent(status: 0), policy: policy, now: now.addingTimeInterval(-ago))
            }
        }
        let api = HTTPAPI(store: store, metrics: NodeMetrics()) { .init(problems: []) }
        try await serving(api) { port in
            let day = try await getPage(port, "api/latency")
            #expect(day.rows.map { $0["model"] as? String } == ["organs", "spleen"])
            #expect(day.rows.first?["results"] as? Int == 2 && day.rows.last?["results"] as? Int == 1)
            // organs: 600 − 580 = 20 s and 300 − 260 = 40 s; spleen: 600 − 570 = 30 s (the
            // second spleen job still has an object pending).
            func seconds(_ row: [String: Any]?, _ key: String) -> Double { (row?[key] as? Double) ?? -1 }
            #expect(abs(seconds(day.rows.first, "p50_seconds") - 20) < 0.01)
            #expect(abs(seconds(day.rows.first, "p95_seconds") - 40) < 0.01)
            #expect(abs(seconds(day.rows.last, "p50_seconds") - 30) < 0.01)
            #expect(abs(seconds(day.rows.first, "results_per_hour") - 2.0 / 24) < 1e-9)
            // The last 6 minutes: only the second organs job was delivered in them.
            let recent = try await getPage(port, "api/latency?hours=0.1")
            #expect(recent.rows.count == 1 && recent.rows.first?["results"] as? Int == 1)
            #expect(try await getPage(port, "api/latency?hours=-1").status == 400)
        }
    }
}
