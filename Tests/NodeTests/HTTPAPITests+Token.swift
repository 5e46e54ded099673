import Foundation
import Hummingbird
import Logging
import TestSupport
import Testing

@testable import Node

#if canImport(FoundationNetworking)
    import FoundationNetworking
#endif

/// State-changing HTTP requests need the bearer token of `http.token_file`.
@Suite struct HTTPAPITokenTests {
    let directory = TemporaryDirectory()

    func post(_ port: UInt16, _ path: String, token: String?) async throws -> (status: Int, body: String) {
        var request = URLRequest(url: URL(string: "http://127.0.0.1:\(port)/\(path)")!)
        request.httpMethod = "POST"
        if let token { request.setValue("Bearer \(token)", forHTTPHeaderField: "Authorization") }
        let (data, response) = try await URLSession.shared.data(for: request)
        return ((response as? HTTPURLResponse)?.statusCode ?? 0, String(decoding: data, as: UTF8.self))
    }

    func serve(token: String?, _ body: (UInt16, NodeStore) async throws -> Void) async throws {
        let store = NodeStore(
            database: try NodeDatabase(path: directory.file("n\(token == nil ? 0 : 1).sqlite")),
            router: Router(routes: []))
        let api = HTTPAPI(store: store, metrics: NodeMetrics(), token: token) { .init(problems: []) }
        try await serving(api) { port in try await body(port, store) }
    }

    @Test func retryNeedsTheBearerToken() async throws {
        let token = "s3cret-token-0123456789"
        try await serve(token: token) { port, store in
            try store.enqueue(
                objects: [("/r/seg.dcm", "1.2.3")], destinations: ["pacs"], jobID: nil, correlationID: "c",
                now: Date())
            #expect(try await post(port, "api/outbox/retry", token: nil).status == 401)
            #expect(try await post(port, "api/outbox/retry", token: "s3cret-token-0123456788").status == 401)
            #expect(try await post(port, "api/outbox/retry?job=x", token: token).status == 400)
            let accepted = try await post(port, "api/outbox/retry", token: token)
            #expect(accepted.status == 200 && accepted.body.contains("\"requeued\" : 0"), "\(accepted.body)")
        }
    }

    @Test func withoutAConfiguredTokenStateChangesAreRefused() async throws {
        try await serve(token: nil) { (port: UInt16, _: NodeStore) async throws in
            let refused = try await post(port, "api/outbox/retry", token: "anything-at-all-here")
            #expect(refused.status == 403)
        }
    }

    @Test func tokenFileReadableByOthersIsRefused() throws {
        let path = directory.file("token")
        try "abcdefghijklmnopqrstuvwxyz".write(toFile: path, atomically: true, encoding: .utf8)
        chmod(path, 0o644)
        #expect(throws: ConfigurationError.self) { try NodeServer.readToken(path) }
        chmod(path, 0o600)
        #expect(try NodeServer.readToken(path) == "abcdefghijklmnopqrstuvwxyz")
    }
}
