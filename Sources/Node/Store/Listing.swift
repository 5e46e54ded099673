import Foundation

/// One page of a listing for the API and the console: rows that match every filter, in key
/// order, after the row whose key is `after` (keyset paging: a page costs the same wherever it
/// is, and rows added meanwhile neither repeat nor go missing). Without `limit`, every row.
///
/// Keys: a series' Series Instance UID (ordered by first receipt, then UID), a job's or an outbox
/// entry's id. The API hands the last key of a page back as the next page's `after`.
public struct Listing: Sendable, Equatable {
    public enum Order: String, Sendable, CaseIterable {
        case oldest, newest
    }

    /// Column name → value; only the columns of ``Table/filterable`` (the API checks).
    public var filters: [String: String] = [:]
    public var limit: Int?
    public var after: String?
    public var order: Order = .oldest

    public init(filters: [String: String] = [:], limit: Int? = nil, after: String? = nil, order: Order = .oldest) {
        self.filters = filters
        self.limit = limit
        self.after = after
        self.order = order
    }

    /// A listed table: its name, the columns a listing may filter on, and its order.
    public struct Table: Sendable {
        public var name: String
        public var filterable: [String]
        /// The columns rows are ordered by, the last unique (the key).
        var order: [String]
        var key: String { order.last! }

        public static let series = Table(
            name: "series", filterable: ["state", "route", "studyInstanceUID"],
            order: ["firstReceivedAt", "seriesInstanceUID"])
        public static let job = Table(
            name: "job", filterable: ["state", "route", "model", "subjectUID"], order: ["id"])
        public static let outbox = Table(
            name: "outbox", filterable: ["state", "destination", "jobID"], order: ["id"])
    }

    /// The two databases' spelling of a parameter.
    enum Dialect {
        /// `?`; SQLite compares an integer column with a text parameter as numbers.
        case sqlite
        /// `$n`, cast where the column is an integer (the parameters are sent as text).
        case postgreSQL
    }

    /// The WHERE … ORDER BY … LIMIT … part of the query on `table` (aliased `t`) and its
    /// parameters in order. Column names come from `table`, never from the request.
    func clauses(_ table: Table, _ dialect: Dialect) -> (sql: String, parameters: [String]) {
        var conditions: [String] = [], parameters: [String] = []
        func parameter(_ value: String, column: String) -> String {
            parameters.append(value)
            switch dialect {
            case .sqlite: return "?"
            case .postgreSQL: return "$\(parameters.count)" + (["id", "jobID"].contains(column) ? "::bigint" : "")
            }
        }
        for column in table.filterable {
            guard let value = filters[column] else { continue }
            conditions.append(#"t."\#(column)" = "# + parameter(value, column: column))
        }
        if let after {
            let columns = table.order.map { #"t."\#($0)""# }.joined(separator: ", ")
            let inner = table.order.map { #""\#($0)""# }.joined(separator: ", ")
            conditions.append(
                "(\(columns)) \(order == .oldest ? ">" : "<") (SELECT \(inner) FROM \(table.name) WHERE \"\(table.key)\" = "
                    + parameter(after, column: table.key) + ")")
        }
        var sql = conditions.isEmpty ? "" : " WHERE " + conditions.joined(separator: " AND ")
        let direction = order == .oldest ? "" : " DESC"
        sql += " ORDER BY " + table.order.map { #"t."\#($0)"\#(direction)"# }.joined(separator: ", ")
        if let limit { sql += " LIMIT \(max(0, limit))" }
        return (sql, parameters)
    }
}
