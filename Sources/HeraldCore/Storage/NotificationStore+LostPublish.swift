import HeraldPostgres

import struct Foundation.UUID

extension NotificationStore {
    /// The notifications among `ids` that `topics` hold, stored at most `seconds` ago,
    /// whether expired or not: what a publish whose answer was lost stored.
    ///
    /// Each topic's `created_at` never decreases with its seq, so only the topic's rows
    /// after the last one older than that are looked at: the search costs what was
    /// published since, not the topic's history.
    func notifications(withIDs ids: [UUID], topics: [String], storedWithin seconds: Double) async throws -> [UUID: Notification] {
        guard !ids.isEmpty else { return [:] }
        let rows = try await self.pool.query(
            PostgresQuery(
                """
                SELECT \(Self.columns)
                FROM unnest($1::text[]) AS t(topic)
                CROSS JOIN LATERAL (
                    SELECT coalesce((
                        SELECT b.seq FROM herald.notifications b
                        WHERE b.topic = t.topic AND b.created_at < now() - make_interval(secs => $3::float8)
                        ORDER BY b.seq DESC LIMIT 1
                    ), 0) AS after
                ) a
                CROSS JOIN LATERAL (
                    SELECT * FROM herald.notifications n
                    WHERE n.topic = t.topic AND n.seq > a.after AND n.id = ANY ($2::uuid[])
                ) n
                """,
                topics, ids, seconds
            )
        )
        return Dictionary(try Self.decode(rows).map { ($0.id, $0) }) { first, _ in first }
    }

    /// The retained notifications (expired or not) that idempotency keys name, each with
    /// its topic and key.
    func notifications(withKeys keys: [(topic: String, key: String)]) async throws -> [(topic: String, key: String, notification: Notification)] {
        guard !keys.isEmpty else { return [] }
        let rows = try await self.pool.query(
            PostgresQuery(
                """
                SELECT \(Self.columns), k.key
                FROM unnest($1::text[], $2::text[]) AS p(topic, key)
                JOIN herald.idempotency_keys k ON k.topic = p.topic AND k.key = p.key
                CROSS JOIN LATERAL (
                    SELECT * FROM herald.notifications n WHERE n.topic = k.topic AND n.seq = k.seq LIMIT 1
                ) n
                """,
                keys.map(\.topic), keys.map(\.key)
            )
        )
        let notifications = try Self.decode(rows)
        return try zip(rows, notifications).map { row, notification in
            (notification.topic, try row.decode(String.self, at: 7), notification)
        }
    }
}
