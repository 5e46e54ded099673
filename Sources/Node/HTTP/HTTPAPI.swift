import Foundation
import Hummingbird

/// `/health`, `/ready`, `/metrics` and the JSON API (docs/node-behaviour.md, Observability).
/// Bound to loopback by default. Requests that change state (POST, PUT, DELETE) need the bearer
/// token of `http.token_file` (RFC 6750); without a configured token they are refused.
public struct HTTPAPI: Sendable {
    let store: any NodeStateStore
    let metrics: NodeMetrics
    let readiness: @Sendable () async -> Readiness
    /// A node whose heartbeat is older than this is not alive (metrics, `/api/nodes`).
    let aliveWithin: Double
    /// The bearer token for state-changing requests; nil disables them.
    let token: String?

    /// Whether the node can take work: store writable, database open, disk above the threshold.
    public struct Readiness: Sendable, Codable, Equatable {
        public var ready: Bool
        public var problems: [String]

        public init(problems: [String]) {
            self.problems = problems
            ready = problems.isEmpty
        }
    }

    public init(
        store: any NodeStateStore, metrics: NodeMetrics, token: String? = nil, aliveWithin: Double = 360,
        readiness: @escaping @Sendable () async -> Readiness
    ) {
        self.store = store
        self.aliveWithin = aliveWithin
        self.metrics = metrics
        self.token = token
        self.readiness = readiness
    }

    /// Refuses a state-changing request unless it carries `Authorization: Bearer <token>`:
    /// 403 when no token is configured, 401 (with `WWW-Authenticate: Bearer`) otherwise.
    static func authorize(_ request: Request, token: String?) throws {
        guard let token else {
            throw HTTPError(.forbidden, message: "state-changing requests are disabled: configure http.token_file")
        }
        let presented = request.headers[.authorization] ?? ""
        let expected = "Bearer " + token
        // Compare every byte, so that the time taken does not tell how much of a guess was right.
        let a = Array(presented.utf8), b = Array(expected.utf8)
        var difference = a.count ^ b.count
        for i in 0..<min(a.count, b.count) { difference |= Int(a[i] ^ b[i]) }
        if difference != 0 {
            throw HTTPError(
                .unauthorized, headers: [.wwwAuthenticate: "Bearer realm=\"mambanode\""],
                message: "missing or wrong bearer token")
        }
    }

    public func router() -> Hummingbird.Router<BasicRequestContext> {
        let router = Hummingbird.Router()
        let store = self.store, metrics = self.metrics, readiness = self.readiness, aliveWithin = self.aliveWithin
        router.get("health") { _, _ in "ok\n" }
        router.get("ready") { _, _ -> Response in
            let state = await readiness()
            return try Self.json(state, status: state.ready ? .ok : .serviceUnavailable)
        }
        router.get("metrics") { _, _ -> Response in
            let text = try await metrics.render(store: store, aliveWithin: aliveWithin)
            return Response(
                status: .ok, headers: [.contentType: "text/plain; version=0.0.4; charset=utf-8"],
                body: .init(byteBuffer: ByteBuffer(string: text)))
        }
        // With several nodes on one database, every node shows the whole cluster's state.
        // Every row without `limit`; with it, one page and a Link header to the next (Listing).
        router.get("api/series") { request, _ -> Response in
            let listing = try Self.listing(request, .series, states: SeriesState.allCases.map(\.rawValue))
            let rows = try await store.series(listing)
            return try Self.page(rows.map(SeriesView.init), keys: rows.map(\.seriesInstanceUID), listing, request)
        }
        router.get("api/jobs") { request, _ -> Response in
            let listing = try Self.listing(request, .job, states: JobState.allCases.map(\.rawValue))
            let rows = try await store.jobs(listing)
            return try Self.page(rows.map(JobView.init), keys: rows.map { "\($0.id ?? 0)" }, listing, request)
        }
        router.get("api/outbox") { request, _ -> Response in
            let listing = try Self.listing(request, .outbox, states: OutboxState.allCases.map(\.rawValue))
            let rows = try await store.outbox(listing)
            return try Self.page(rows.map(OutboxView.init), keys: rows.map { "\($0.id ?? 0)" }, listing, request)
        }
        // Receipt of the last instance → last result acknowledged, per model, over `hours` (24).
        router.get("api/latency") { request, _ -> Response in
            var hours = 24.0
            if let text = request.uri.queryParameters["hours"] {
                guard let value = Double(String(text)), value > 0, value <= 24 * 366 else {
                    throw HTTPError(.badRequest, message: "hours must be a number of hours above 0, got '\(text)'")
                }
                hours = value
            }
            let jobs = try await store.deliveredJobs(since: Date().addingTimeInterval(-hours * 3600))
            return try Self.json(ModelLatency.summarise(jobs, hours: hours))
        }
        router.get("api/nodes") { _, _ in
            let now = Date()
            return try Self.json(
                try await store.nodes().map {
                    NodeView($0, alive: now.timeIntervalSince($0.heartbeatAt) <= aliveWithin)
                })
        }
        // Re-queues parked results (all, or `?job=ID`), like `mambanode retry --parked`.
        let token = self.token
        router.post("api/outbox/retry") { request, _ -> Response in
            try Self.authorize(request, token: token)
            var job: Int64?
            if let text = request.uri.queryParameters["job"] {
                guard let id = Int64(String(text)) else {
                    throw HTTPError(.badRequest, message: "job must be a number")
                }
                job = id
            }
            return try Self.json(["requeued": try await store.retryParked(jobID: job, now: Date())])
        }
        return router
    }

    /// Query names of the listing filters (snake case, as the JSON) → columns.
    static let filterNames: [String: String] = [
        "state": "state", "route": "route", "study_instance_uid": "studyInstanceUID", "model": "model",
        "subject_uid": "subjectUID", "destination": "destination", "job_id": "jobID"
    ]

    /// The listing a request asks for: `limit` (1…1000), `after` (the last key of the previous
    /// page), `order` (oldest, the default, or newest) and the table's filters; anything else,
    /// or a state the table does not have, is a 400 that names it.
    static func listing(_ request: Request, _ table: Listing.Table, states: [String]) throws -> Listing {
        var listing = Listing()
        for (name, value) in request.uri.queryParameters {
            let (name, value) = (String(name), String(value))
            switch name {
            case "limit":
                guard let limit = Int(value), (1...1000).contains(limit) else {
                    throw HTTPError(.badRequest, message: "limit must be 1…1000, got '\(value)'")
                }
                listing.limit = limit
            case "after":
                // Job and outbox keys are ids; a series' is its UID.
                if table.key == "id" && Int64(value) == nil {
                    throw HTTPError(
                        .badRequest, message: "after must be the id of the previous page's last row, got '\(value)'")
                }
                listing.after = value
            case "order":
                guard let order = Listing.Order(rawValue: value) else {
                    throw HTTPError(.badRequest, message: "order must be oldest or newest, got '\(value)'")
                }
                listing.order = order
            default:
                guard let column = filterNames[name], table.filterable.contains(column) else {
                    let known =
                        ["limit", "after", "order"]
                        + filterNames.filter { table.filterable.contains($0.value) }.keys.sorted()
                    throw HTTPError(
                        .badRequest, message: "unknown parameter '\(name)' (known: \(known.joined(separator: ", ")))")
                }
                if column == "state" && !states.contains(value) {
                    throw HTTPError(
                        .badRequest, message: "state must be one of \(states.joined(separator: ", ")), got '\(value)'")
                }
                if column == "jobID" && Int64(value) == nil {
                    throw HTTPError(.badRequest, message: "job_id must be a number, got '\(value)'")
                }
                listing.filters[column] = value
            }
        }
        return listing
    }

    /// `rows` as JSON; a full page also links to the next (RFC 8288 `Link: <…>; rel="next"`),
    /// the same request with `after` set to the page's last key.
    static func page<T: Encodable>(
        _ rows: [T], keys: [String], _ listing: Listing, _ request: Request
    ) throws
        -> Response
    {
        var response = try json(rows)
        if let limit = listing.limit, rows.count == limit, let last = keys.last {
            var components = URLComponents()
            components.path = request.uri.path
            components.queryItems =
                request.uri.queryParameters.filter { $0.key != "after" }
                .map { URLQueryItem(name: String($0.key), value: String($0.value)) }
                .sorted { $0.name < $1.name } + [URLQueryItem(name: "after", value: last)]
            response.headers[.init("Link")!] = "<\(components.string ?? "")>; rel=\"next\""
        }
        return response
    }

    static func json<T: Encodable>(_ value: T, status: HTTPResponse.Status = .ok) throws -> Response {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys, .prettyPrinted]
        encoder.dateEncodingStrategy = .iso8601
        encoder.keyEncodingStrategy = .convertToSnakeCase
        return Response(
            status: status, headers: [.contentType: "application/json"],
            body: .init(byteBuffer: ByteBuffer(bytes: try encoder.encode(value))))
    }

    // The API shows UIDs, states and timings only: no patient attributes are stored in these tables.
    struct SeriesView: Encodable {
        var seriesInstanceUID, studyInstanceUID, state: String
        var reason, route, channel: String?
        var instanceCount, version: Int
        var expectedCount: Int?
        var firstReceivedAt, lastReceivedAt, quietDeadline, hardDeadline: Date
        var correlationID: String
        /// Why the series may be incomplete (docs/node-behaviour.md, Interrupted series), or nil.
        var interruption: String?
        var mayBeIncomplete: Bool
        init(_ s: SeriesRecord) {
            interruption = s.interruption
            mayBeIncomplete = s.interruption != nil
            seriesInstanceUID = s.seriesInstanceUID
            studyInstanceUID = s.studyInstanceUID
            state = s.state.rawValue
            reason = s.reason
            route = s.route
            channel = s.channel
            instanceCount = s.instanceCount
            version = s.version
            expectedCount = s.expectedCount
            firstReceivedAt = s.firstReceivedAt
            lastReceivedAt = s.lastReceivedAt
            quietDeadline = s.quietDeadline
            hardDeadline = s.hardDeadline
            correlationID = s.correlationID
        }
    }

    struct JobView: Encodable {
        var id: Int64?
        var route, model, subjectUID, level, state, step: String
        var version, attempts: Int
        var reason: String?
        var timings: [String: Double]
        /// What the job's results say about their input (e.g. a series that may be incomplete).
        var caveats: [String]
        var createdAt: Date
        var startedAt, finishedAt: Date?
        var correlationID: String
        /// The node that runs (or ran) the job, and until when its lease holds (several nodes).
        var node: String?
        var leaseUntil: Date?
        init(_ j: JobRecord) {
            node = j.leaseOwner
            leaseUntil = j.leaseUntil
            id = j.id
            route = j.route
            model = j.model
            subjectUID = j.subjectUID
            level = j.level.rawValue
            state = j.state.rawValue
            step = j.step.rawValue
            version = j.version
            attempts = j.attempts
            reason = j.reason
            timings = j.timings
            caveats = j.caveats
            createdAt = j.createdAt
            startedAt = j.startedAt
            finishedAt = j.finishedAt
            correlationID = j.correlationID
        }
    }

    struct OutboxView: Encodable {
        var id, jobID: Int64?
        var sopInstanceUID, destination, state: String
        var attempts: Int
        var nextAttemptAt, createdAt: Date
        var lastAttemptAt, sentAt: Date?
        var sendSeconds: Double?
        var lastStatus, lastError: String?
        var correlationID: String
        init(_ o: OutboxRecord) {
            id = o.id
            jobID = o.jobID
            sopInstanceUID = o.sopInstanceUID
            destination = o.destination
            state = o.state.rawValue
            attempts = o.attempts
            nextAttemptAt = o.nextAttemptAt
            createdAt = o.createdAt
            lastAttemptAt = o.lastAttemptAt
            sentAt = o.sentAt
            sendSeconds = o.sendSeconds
            lastStatus = o.lastStatus
            lastError = o.lastError
            correlationID = o.correlationID
        }
    }

    struct NodeView: Encodable {
        var name: String
        var roles: [String]
        var startedAt, heartbeatAt: Date
        var alive: Bool
        init(_ n: NodeRecord, alive: Bool) {
            name = n.name
            roles = n.roles
            startedAt = n.startedAt
            heartbeatAt = n.heartbeatAt
            self.alive = alive
        }
    }
}
