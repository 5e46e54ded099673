import DICOM
import Foundation

/// A rule that sends matching series (or studies) to a model and the results to destinations.
/// Rules are data (docs/node-behaviour.md, Rules): conditions on tags and on the association, never code.
public struct Route: Sendable {
    public enum Level: String, Sendable { case series, study }

    /// One input of a study-level route (e.g. `t1ce` of a BraTS model): the series that matches
    /// its conditions fills it.
    public struct Channel: Sendable {
        public var name: String
        public var conditions: [Condition]
    }

    public var name: String
    public var priority: Int
    public var level: Level
    /// Conditions every instance of the series (series level) or of the study (study level)
    /// must meet for the route to apply.
    public var conditions: [Condition]
    /// Study level only: the required series, in the model's input order.
    public var channels: [Channel]
    /// The models run on every subject of the route, one job each (`model: x` or
    /// `models: [x, y]` in the configuration): one CT series can give organs, landmarks and a
    /// classification, each its own SEG/SR, as a site running several algorithms expects.
    public var models: [String]

    /// Most models one route may run (see ``seriesSlot(of:)``).
    public static let maximumModels = 5

    /// Series Numbers each model of a route has for its outputs within one result version.
    public static let seriesNumbersPerModel = 10

    /// Where `model`'s result series sit among the route's: the k-th model's SEG, SR and RT
    /// Structure Set take Series Numbers 900 + 10k, 901 + 10k and 902 + 10k (plus 100 per result
    /// version), so that two models' results in one study never share a Series Number (PS3.3
    /// C.7.3.1: it identifies the series to the reader of the study). 0 for a model the route
    /// does not list.
    public func seriesSlot(of model: String) -> Int { models.firstIndex(of: model) ?? 0 }
    public var destinations: [String]
    /// Seconds without a new instance after which a series (or study) is stable.
    public var quietTime: Double
    /// Close a series as soon as the instance count the data announces is reached.
    public var closeOnExpectedCount: Bool
    /// Seconds after the first instance at which a series is closed whatever happens.
    public var hardCap: Double
    /// Study level: seconds after the first instance after which a study missing a channel fails.
    public var giveUpAfter: Double
    /// Seconds without a new instance after which an interrupted series (fed by an association
    /// that ended abnormally, or arriving when the node stopped) is processed anyway, its result
    /// saying it may be incomplete (docs/node-behaviour.md, Interrupted series).
    public var interruptedGrace: Double = 600
    /// Image Type value 1 (ORIGINAL, DERIVED) the route lets its models run on, narrowing what
    /// each model accepts (YAML `image_types`); nil: what the model accepts.
    public var imageTypes: Set<String>? = nil
}

/// One test of a routing rule.
public struct Condition: Sendable, CustomStringConvertible {
    public enum Field: Sendable, Equatable, CustomStringConvertible {
        case tag(DICOM.Tag)
        case callingAETitle
        case calledAETitle
        case sourceAddress

        public var description: String {
            switch self {
            case .tag(let tag): tag.described
            case .callingAETitle: "calling_ae"
            case .calledAETitle: "called_ae"
            case .sourceAddress: "source_ip"
            }
        }
    }

    public enum Test: Sendable {
        /// Any value equals the text (case-sensitive, padding ignored).
        case equals(String)
        /// Any value matches the regular expression (searched, not anchored).
        case regex(RoutingPattern)
        /// Any value, read as a number, lies in the closed range.
        case range(ClosedRange<Double>)
        /// Any value (of a multi-valued element such as Image Type) equals the text.
        case contains(String)
        case present
        case absent
        /// The value is one of these (per-route `allowed_calling_aes`).
        case oneOf([String])
        /// The value is an address in one of these networks (per-route `allowed_sources`).
        case inNetworks([AddressRange])
    }

    public var field: Field
    public var test: Test
    /// Inverts the test (`not:` in the configuration).
    public var negated: Bool

    public var description: String {
        let text: String
        switch test {
        case .equals(let v): text = "\(field) == \"\(v)\""
        case .regex(let p): text = "\(field) ~ /\(p.pattern)/"
        case .range(let r): text = "\(field) in [\(r.lowerBound), \(r.upperBound)]"
        case .contains(let v): text = "\(field) contains \"\(v)\""
        case .present: text = "\(field) present"
        case .absent: text = "\(field) absent"
        case .oneOf(let v): text = "\(field) in [\(v.joined(separator: ", "))]"
        case .inNetworks(let v): text = "\(field) in [\(v.map(\.description).joined(separator: ", "))]"
        }
        return negated ? "not (\(text))" : text
    }
}

/// A compiled regular expression from the configuration.
public struct RoutingPattern: @unchecked Sendable {
    // NSRegularExpression is immutable and thread-safe once made.
    let expression: NSRegularExpression
    public var pattern: String { expression.pattern }

    public init(_ pattern: String) throws {
        expression = try NSRegularExpression(pattern: pattern)
    }

    public func matches(_ text: String) -> Bool {
        expression.firstMatch(in: text, range: NSRange(text.startIndex..., in: text)) != nil
    }
}
