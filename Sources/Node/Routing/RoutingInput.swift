import DICOM

/// What a routing decision looks at: the attributes of a representative instance of the series
/// and the association that brought it (docs/node-behaviour.md, Rules: tag conditions,
/// calling/called AE, source IP).
public struct RoutingInput: Sendable {
    /// Attribute values by tag, each split into its values (`ORIGINAL\PRIMARY\AXIAL` → three).
    public var attributes: [Tag: [String]]
    public var callingAETitle: String?
    public var calledAETitle: String?
    public var sourceAddress: String?

    public init(
        attributes: [Tag: [String]], callingAETitle: String? = nil, calledAETitle: String? = nil,
        sourceAddress: String? = nil
    ) {
        self.attributes = attributes
        self.callingAETitle = callingAETitle
        self.calledAETitle = calledAETitle
        self.sourceAddress = sourceAddress
    }

    /// The values of a field; nil when absent.
    func values(of field: Condition.Field) -> [String]? {
        switch field {
        case .tag(let tag): attributes[tag]
        case .callingAETitle: callingAETitle.map { [$0] }
        case .calledAETitle: calledAETitle.map { [$0] }
        case .sourceAddress: sourceAddress.map { [$0] }
        }
    }
}

extension RoutingInput {
    /// Reads the attributes the given routes look at from a data set (header only is enough).
    public init(
        dataSet: DataSet, tags: Set<Tag>, callingAETitle: String? = nil, calledAETitle: String? = nil,
        sourceAddress: String? = nil
    ) {
        var attributes: [Tag: [String]] = [:]
        for tag in tags {
            if let values = try? dataSet.strings(tag) { attributes[tag] = values }
        }
        self.init(
            attributes: attributes, callingAETitle: callingAETitle, calledAETitle: calledAETitle,
            sourceAddress: sourceAddress)
    }
}

extension Condition {
    /// Whether the input meets this condition.
    public func isMet(by input: RoutingInput) -> Bool {
        let values = input.values(of: field)
        let result: Bool
        switch test {
        case .present: result = values != nil
        case .absent: result = values == nil
        case .equals(let expected): result = values?.contains(expected) ?? false
        case .contains(let expected): result = values?.contains { $0.uppercased() == expected.uppercased() } ?? false
        case .regex(let pattern): result = values?.contains { pattern.matches($0) } ?? false
        case .range(let range): result = values?.contains { Double($0).map(range.contains) ?? false } ?? false
        case .oneOf(let allowed): result = values?.contains { allowed.contains($0) } ?? false
        case .inNetworks(let networks):
            result = values?.contains { value in networks.contains { $0.contains(value) } } ?? false
        }
        return negated ? !result : result
    }
}
