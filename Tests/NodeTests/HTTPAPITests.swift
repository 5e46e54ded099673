import Foundation
import Hummingbird
import Logging
import Synchronization
import TestSupport
import Testing

@testable import Node

#if canImport(FoundationNetworking)
    import FoundationNetworking
#endif

/// The HTTP API served live on a loopback port, read with URLSession.
@Suite struct HTTPAPITests {
    let directory = TemporaryDirectory()

    func get(_ port: UInt16, _ path: String) async throws -> (status: Int, body: String) {
        let (data, response) = try await URLSession.shared.data(from: URL(string: "http://127.0.0.1:\(port)/\(path)")!)
        return ((response as? HTTPURLResponse)?.statusCode ?? 0, String(decoding: data, as: UTF8.self))
    }

    @Test func healthReadyMetricsAndAPI() async throws {
        let store = NodeStore(database: try NodeDatabase(path: directory.file("n.sqlite")), router: Router(routes: []))
        try store.enqueue(
            objects: [("/r/seg.dcm", "1.2.3")], destinations: ["pacs"], jobID: nil, correlationID: "c", now: Date())
        let metrics = NodeMetrics()
        metrics.instancesReceived.increment(by: Int64(3))
        let ready = Mutex<HTTPAPI.Readiness>(.init(problems: []))
        let api = HTTPAPI(store: store, metrics: metrics) { ready.withLock { $0 } }
        try await serving(api) { port in
            #expect(try await get(port, "health") == (200, "ok\n"))
            var response = try await get(port, "ready")
            #expect(response.status == 200 && response.body.contains("\"ready\" : true"))
            ready.withLock { $0 = .init(problems: ["free disk 10 MiB is below the threshold 1024 MiB"]) }
            response = try await get(port, "ready")
            #expect(response.status == 503 && response.body.contains("below the threshold"))

            let text = try await get(port, "metrics").body
            #expect(text.contains("mambanode_instances_received_total 3"))
            #expect(text.contains("mambanode_outbox_pending 1"))
            #expect(text.contains("mambanode_outbox_parked 0"))

            let outbox =
                try JSONSerialization.jsonObject(with: Data(try await get(port, "api/outbox").body.utf8))
                as? [[String: Any]]
            #expect(outbox?.first?["sop_instance_uid"] as? String == "1.2.3")
            #expect(outbox?.first?["state"] as? String == "pending")
            let series =
                try JSONSerialization.jsonObject(with: Data(try await get(port, "api/series").body.utf8)) as? [Any]
            #expect(series?.isEmpty == true)
            #expect(try await get(port, "api/jobs").status == 200)
        }
    }
}

/// Serves `api` on a free loopback port for the duration of `body`.
func serving(_ api: HTTPAPI, _ body: (UInt16) async throws -> Void) async throws {
    let port = FreePort.allocate()
    let app = Application(
        router: api.router(), configuration: .init(address: .hostname("127.0.0.1", port: Int(port))),
        logger: Logger(label: "test"))
    let server = Task { try await app.runService(gracefulShutdownSignals: []) }
    defer { server.cancel() }
    #expect(await waitUntil { FreePort.accepts(port) })
    try await body(port)
}
