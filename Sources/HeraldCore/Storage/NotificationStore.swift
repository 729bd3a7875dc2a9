import HeraldPostgres

import struct Foundation.UUID

/// Reads of the notification log.
///
/// Every read filters out notifications past their own `expires_at`, so an expired one
/// is never delivered; the gap it leaves in the seqs is how readers notice it.
public struct NotificationStore: Sendable {
    let pool: PostgresPool

    /// Creates a store reading through `pool`.
    public init(pool: PostgresPool) {
        self.pool = pool
    }

    static let columns = "n.topic, n.seq, n.id, n.event, n.data, n.created_at, n.expires_at"

    /// The notification with `seq` in `topic`, if it is retained and not expired.
    public func notification(topic: String, seq: Int64) async throws -> Notification? {
        let rows = try await self.query(
            PostgresQuery(
                """
                SELECT \(Self.columns) FROM herald.notifications n
                WHERE n.topic = $1 AND n.seq = $2 AND (n.expires_at IS NULL OR n.expires_at > now())
                LIMIT 1
                """,
                topic, seq
            )
        )
        return try Self.decode(rows).first
    }

    /// The last seq of each topic (0 for a topic nobody has published to).
    public func lastSeqs(of topics: [String]) async throws -> [String: Int64] {
        let rows = try await self.query(PostgresQuery("SELECT name, last_seq FROM herald.topics WHERE name = ANY($1::text[])", topics))
        var result = Dictionary(uniqueKeysWithValues: topics.map { ($0, Int64(0)) })
        do {
            for row in rows { result[try row.decode(String.self, at: 0)] = try row.decode(Int64.self, at: 1) }
        } catch {
            throw HeraldError(.internalError, "\(error)")
        }
        return result
    }

    /// For each (topic, after), up to `limit` notifications with seq > after, in seq order;
    /// topics one after another.
    public func read(after positions: [(topic: String, seq: Int64)], limit: Int) async throws -> [Notification] {
        let rows = try await self.query(
            PostgresQuery(
                """
                SELECT \(Self.columns)
                FROM unnest($1::text[], $2::int8[]) WITH ORDINALITY AS p(topic, after, ord)
                CROSS JOIN LATERAL (
                    SELECT * FROM herald.notifications n
                    WHERE n.topic = p.topic AND n.seq > p.after AND (n.expires_at IS NULL OR n.expires_at > now())
                    ORDER BY n.seq
                    LIMIT $3
                ) n
                ORDER BY p.ord, n.seq
                """,
                positions.map(\.topic), positions.map(\.seq), limit
            )
        )
        return try Self.decode(rows)
    }

    /// Runs a statement, mapping database failures to Herald errors.
    func query(_ query: PostgresQuery) async throws -> PostgresResult {
        do {
            return try await self.pool.query(query)
        } catch let error as PostgresError where error.isUnavailable {
            throw HeraldError.databaseUnavailable
        } catch {
            throw HeraldError(.internalError, "database error: \(error)")
        }
    }

    static func decode(_ rows: PostgresResult) throws(HeraldError) -> [Notification] {
        do {
            return try rows.map { row in
                Notification(
                    topic: try row.decode(String.self, at: 0),
                    seq: try row.decode(Int64.self, at: 1),
                    id: try row.decode(UUID.self, at: 2),
                    event: try row.decode(String.self, at: 3),
                    data: try row.decode(String.self, at: 4),
                    createdAt: try row.decode(PostgresTimestamp.self, at: 5),
                    expiresAt: try row.decode(PostgresTimestamp?.self, at: 6)
                )
            }
        } catch {
            throw HeraldError(.internalError, "cannot read a notification: \(error)")
        }
    }
}
