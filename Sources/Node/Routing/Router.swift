import DICOM

/// Chooses the route for a series: the first route, in configuration order (descending
/// priority, then file order), whose conditions all hold. No match is not an error: the series
/// is stored and reported, not processed (docs/node-behaviour.md, Rules).
public struct Router: Sendable {
    public let routes: [Route]
    /// How long a series no route matched waits for more instances before it is reported as
    /// unrouted (a final state), in seconds: configuration `unrouted_quiet_time`.
    public let unroutedQuietTime: Double

    public init(routes: [Route], unroutedQuietTime: Double = NodeConfiguration.defaults.unroutedQuietTime) {
        self.routes = routes
        self.unroutedQuietTime = unroutedQuietTime
    }

    /// The router of a node's configuration.
    public init(_ configuration: NodeConfiguration) {
        self.init(routes: configuration.routes, unroutedQuietTime: configuration.unroutedQuietTime)
    }

    /// Why a route did or did not apply, for `mambanode routes test` and the logs.
    public struct Evaluation: Sendable {
        public var route: Route
        /// Conditions that failed (empty when the route matched).
        public var failed: [Condition]
        public var matched: Bool { failed.isEmpty }
    }

    /// Every route's verdict, in the order they are tried.
    public func evaluate(_ input: RoutingInput) -> [Evaluation] {
        routes.map { route in Evaluation(route: route, failed: route.conditions.filter { !$0.isMet(by: input) }) }
    }

    /// The route that applies, or nil.
    public func route(for input: RoutingInput) -> Route? {
        routes.first { route in route.conditions.allSatisfy { $0.isMet(by: input) } }
    }

    /// The configured route of that name (nil for nil, or a route no longer configured).
    public func route(named name: String?) -> Route? {
        guard let name else { return nil }
        return routes.first { $0.name == name }
    }

    /// Why no route applies to `input`, naming each route and the conditions it failed (the
    /// reason an unrouted series carries in the API and `mambanode status`).
    public func unmatchedReason(_ input: RoutingInput) -> String {
        guard !routes.isEmpty else { return "no route is configured" }
        let verdicts = evaluate(input).map {
            "\($0.route.name): \($0.failed.map(\.description).joined(separator: ", "))"
        }
        return "no route matched (" + verdicts.joined(separator: "; ") + ")"
    }

    /// For study-level routes: the channel a series fills, or nil.
    public static func channel(of route: Route, for input: RoutingInput) -> Route.Channel? {
        route.channels.first { channel in channel.conditions.allSatisfy { $0.isMet(by: input) } }
    }

    /// The tags any route or channel looks at (what to extract from each instance).
    public var tagsOfInterest: Set<Tag> {
        var tags: Set<Tag> = []
        for route in routes {
            for condition in route.conditions + route.channels.flatMap(\.conditions) {
                if case .tag(let tag) = condition.field { tags.insert(tag) }
            }
        }
        return tags
    }
}
