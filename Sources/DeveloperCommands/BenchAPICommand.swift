import ArgumentParser
import Foundation
import Node

#if canImport(FoundationNetworking)
    import FoundationNetworking
#endif
#if canImport(Glibc)
    import Glibc
#endif

/// `mambanode bench api`: a node whose database holds `--series` series serves `/api/series` a
/// page at a time (`limit`, following each `Link: rel="next"`); prints the time per page
/// against the 50 ms a console needs, and, as the reference, the one-response listing of every
/// series the API gave before it paged.
public struct BenchAPICommand: AsyncParsableCommand {
    public init() {}

    public static let configuration = CommandConfiguration(
        commandName: "api",
        abstract: "Time /api/series pages over many series against the whole listing in one response."
    )

    @Option(help: "Series in the node's database.") var series = 10_000
    @Option(help: "Series per page.") var page = 50

    public func run() async throws {
        guard series >= 1, (1...1000).contains(page) else { throw ValidationError("--series ≥ 1, --page 1…1000") }
        let work = FileManager.default.temporaryDirectory.path + "/mambanode-bench-api-\(getpid())"
        try FileManager.default.createDirectory(atPath: work, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: work) }
        let me =
            (try? FileManager.default.destinationOfSymbolicLink(atPath: "/proc/self/exe")) ?? CommandLine.arguments[0]

        print("recording \(series) series …")
        try fill(database: work + "/node.sqlite")
        let nodePort = BenchNodeCommand.freePort(), httpPort = BenchNodeCommand.freePort()
        try """
        node: { ae_title: MAMBANODE, port: \(nodePort) }
        storage: { directory: \(work)/store, database: \(work)/node.sqlite, min_free_disk_mb: 1 }
        http: { port: \(httpPort) }
        logging: { format: text, level: warning }
        """.write(toFile: work + "/node.yaml", atomically: true, encoding: .utf8)
        let node = try Child(me, ["serve", "--config", work + "/node.yaml"])
        defer { node.kill() }
        let base = "http://127.0.0.1:\(httpPort)/"
        let deadline = Date().addingTimeInterval(60)
        while (try? await get(base + "health")) == nil {
            guard node.isRunning, Date() < deadline else { throw ValidationError("the node did not start") }
            try await Task.sleep(for: .milliseconds(50))
        }

        var times: [Double] = [], rows = 0
        var next: String? = "api/series?limit=\(page)"
        while let path = next {
            let start = ContinuousClock.now
            let (count, link) = try await get(base + path)
            times.append(BenchNodeCommand.seconds(ContinuousClock.now - start) * 1000)
            rows += count
            next = link
        }
        let start = ContinuousClock.now
        let (all, _) = try await get(base + "api/series")
        let whole = BenchNodeCommand.seconds(ContinuousClock.now - start) * 1000
        guard rows == series, all == series else {
            throw ValidationError("listed \(rows) series in pages and \(all) at once, expected \(series)")
        }
        let sorted = times.sorted()
        func at(_ p: Double) -> Double { sorted[max(0, Int((p * Double(sorted.count)).rounded(.up)) - 1)] }
        print(
            String(
                format: "%d series in %d pages of %d: median %.1f ms, p95 %.1f ms, max %.1f ms per page (goal ≤ 50 ms)",
                rows, times.count, page, at(0.5), at(0.95), sorted.last ?? 0))
        print(String(format: "reference, every series in one response: %.1f ms", whole))
    }

    /// `series` unrouted series of one instance each, a second apart, written with deferred
    /// durability (a bench database, not a node's).
    func fill(database path: String) throws {
        let store = NodeStore(database: try NodeDatabase(path: path), router: Router(routes: []))
        let t0 = Date().addingTimeInterval(-Double(series))
        for n in 0..<series {
            let uid = "2.25.\(1000 + n)"
            try store.record(
                InstanceArrival(
                    record: InstanceRecord(
                        sopInstanceUID: uid + ".1", sopClassUID: "1.2.840.10008.5.1.4.1.1.2", seriesInstanceUID: uid,
                        studyInstanceUID: "2.25.\(n / 4)", path: "/store/\(n).dcm",
                        transferSyntaxUID: "1.2.840.10008.1.2.1", callingAETitle: "CT01", calledAETitle: "MAMBANODE",
                        sourceAddress: "127.0.0.1", associationID: "bench/\(n)",
                        receivedAt: t0.addingTimeInterval(Double(n))),
                    expectedCount: nil, routing: RoutingInput(attributes: [.modality: ["CT"]], callingAETitle: "CT01")),
                correlationID: "bench", durability: .withNextFlush)
        }
    }

    /// The rows of a JSON array response and its next-page path, if any.
    func get(_ url: String) async throws -> (rows: Int, next: String?) {
        let (data, response) = try await URLSession.shared.data(from: URL(string: url)!)
        guard let http = response as? HTTPURLResponse, http.statusCode == 200 else {
            throw ValidationError("\(url): HTTP \((response as? HTTPURLResponse)?.statusCode ?? 0)")
        }
        let rows = ((try? JSONSerialization.jsonObject(with: data)) as? [Any])?.count ?? 0
        let next = http.value(forHTTPHeaderField: "Link").flatMap { link -> String? in
            guard let open = link.firstIndex(of: "<"), let close = link.firstIndex(of: ">") else { return nil }
            return String(link[link.index(after: open)..<close].dropFirst())
        }
        return (rows, next)
    }
}
