import Foundation
import Logging
import PostgresNIO

/// Which destinations this node sends for (docs/cluster.md, One sender per destination): one
/// session of its own holds a session-level advisory lock per destination it sends for. Another
/// node's attempt to take the same lock fails while this session lives; when this node dies, its
/// session ends, the lock is released, and the next node to try (every sender round) takes over.
/// Results are re-sent with their UIDs, so a handover never makes a second object.
actor SenderLocks {
    let configuration: PostgresConnection.Configuration
    let logger: Logger
    private var connection: PostgresConnection?
    private var held: Set<String> = []
    private var nextID = 2_000

    init(configuration: PostgresConnection.Configuration, logger: Logger) {
        self.configuration = configuration
        self.logger = logger
    }

    /// Whether this node holds (now, or newly) the lock of `destination`. A session that cannot be
    /// reached loses every lock it held: false until a new session takes them again.
    func hold(_ destination: String) async -> Bool {
        do {
            let connection = try await open()
            if held.contains(destination) {
                // Still ours while the session lives.
                _ = try await connection.query("SELECT 1", logger: logger).collect()
                return true
            }
            let rows = try await connection.query(
                "SELECT pg_try_advisory_lock(hashtextextended(\(Self.key(destination)), 0))", logger: logger
            ).collect()
            guard try rows.first?.decode(Bool.self) == true else { return false }
            held.insert(destination)
            logger.notice("sending for destination", metadata: ["destination": "\(destination)"])
            return true
        } catch {
            if !held.isEmpty {
                logger.warning(
                    "lost the database session that held the senders' locks",
                    metadata: [
                        "destinations": "\(held.sorted().joined(separator: ","))",
                        "error": "\(PostgreSQLStoreError(operation: "hold sender lock", error))"
                    ])
            }
            held = []
            let lost = connection
            connection = nil
            try? await lost?.close()
            return false
        }
    }

    /// Gives every lock up (at a graceful stop: another node takes over at once).
    func releaseAll() async {
        held = []
        let open = connection
        connection = nil
        try? await open?.close()
    }

    private func open() async throws -> PostgresConnection {
        if let connection, !connection.isClosed { return connection }
        held = []
        nextID += 1
        let fresh = try await PostgresConnection.connect(configuration: configuration, id: nextID, logger: logger)
        connection = fresh
        return fresh
    }

    static func key(_ destination: String) -> String { "mambanode-sender:" + destination }
}
