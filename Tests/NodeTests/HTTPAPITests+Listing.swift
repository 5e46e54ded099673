import Foundation
import Logging
import TestSupport
import Testing

@testable import Node

#if canImport(FoundationNetworking)
    import FoundationNetworking
#endif

/// `/api/series`, `/api/jobs` and `/api/outbox` in pages (`limit`, `after`, `order`, filters):
/// following each page's `Link: rel="next"` visits every row once, in order.
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

    @Test func listingsComeInPagesWithFilters() async throws {
        let configuration = try NodeConfiguration.parse(
            """
            destinations: [{ name: pacs, ae_title: PACS, host: 127.0.0.1, port: 4242 }]
            models: { organs: /models/organs, spleen: /models/spleen }
            routes:
              - { name: ct, models: [organs, spleen], destinations: [pacs], match: [{ tag: Modality, equals: CT }], quiet_time: 10s }
            """)
        let store = NodeStore(
            database: try NodeDatabase(path: directory.file("list.sqlite")),
            router: Router(routes: configuration.routes))
        let t0 = Date(timeIntervalSince1970: 1_800_000_000)
        // 7 series received a second apart, in an order their UIDs do not follow.
        let uids = (0..<7).map { "1.2.3.\(70 - 7 * $0)" }
        for (n, uid) in uids.enumerated() {
            try store.record(
                InstanceArrival(
                    record: InstanceRecord(
                        sopInstanceUID: uid + ".1", sopClassUID: "1.2.840.10008.5.1.4.1.1.2", seriesInstanceUID: uid,
                        studyInstanceUID: "1.2.3", path: "/store/\(n).dcm", transferSyntaxUID: "1.2.840.10008.1.2.1",
                        callingAETitle: "CT01", calledAETitle: "MAMBANODE", sourceAddress: "127.0.0.1",
                        associationID: "a\(n)", receivedAt: t0.addingTimeInterval(Double(n))),
                    expectedCount: nil, routing: RoutingInput(attributes: [.modality: ["CT"]], callingAETitle: "CT01")),
                correlationID: "c")
        }
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
                ("api/series?order=up", "order must be oldest or newest")
            ] {
                let (data, response) = try await URLSession.shared.data(
                    from: URL(string: "http://127.0.0.1:\(port)/\(path)")!)
                #expect((response as? HTTPURLResponse)?.statusCode == 400, "\(path)")
                #expect(String(decoding: data, as: UTF8.self).contains(words), "\(path)")
            }
        }
    }
}
