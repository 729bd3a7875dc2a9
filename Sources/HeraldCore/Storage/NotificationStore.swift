import HeraldPostgres

import struct Foundation.UUID

/// Reads of the notification log.
///
/// Every read filters out notifications past their own `expires_at`, so an expired one
/// is never delivered; the gap it leaves in the seqs is how readers notice it. Reads of
/// many rows are bounded twice, in SQL: by a number of rows and by `maximumPageBytes` of
/// data (always at least one row), so a page of large notifications costs no more memory
/// than one of small ones.
///
/// Reads also filter what an admin purged (`herald.purges`): a purge takes effect at once,
/// whether or not its rows are deleted yet.
public struct NotificationStore: Sendable {
    let pool: PostgresPool
    /// The most bytes of data one page (a catch-up or hub read, a poll's answer) carries,
    /// unless its first row alone is larger.
    public let maximumPageBytes: Int
    /// The purges this instance knows of (for naming resets).
    public let purges: PurgeMarks

    /// Creates a store reading through `pool`.
    public init(pool: PostgresPool, maximumPageBytes: Int = 1 << 20, purges: PurgeMarks = PurgeMarks()) {
        self.pool = pool
        self.maximumPageBytes = maximumPageBytes
        self.purges = purges
    }

    static let columns = "n.topic, n.seq, n.id, n.event, n.data, n.created_at, n.expires_at"

    /// The seq through which the topic `topic` (an SQL expression) was purged, 0 if never.
    static func purgedThrough(_ topic: String) -> String {
        "coalesce((SELECT pu.through_seq FROM herald.purges pu WHERE pu.topic = \(topic)), 0)"
    }

    /// The notification with `seq` in `topic`, if it is retained and not expired.
    public func notification(topic: String, seq: Int64) async throws -> Notification? {
        let rows = try await self.query(
            PostgresQuery(
                """
                SELECT \(Self.columns) FROM herald.notifications n
                WHERE n.topic = $1 AND n.seq = $2 AND (n.expires_at IS NULL OR n.expires_at > now())
                  AND n.seq > \(Self.purgedThrough("$1"))
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
            throw HeraldError.internalError("cannot read last seqs: \(error)")
        }
        return result
    }

    /// A page of one topic's log.
    public struct Page: Sendable {
        /// The notifications, in seq order.
        public var notifications: [Notification]
        /// Whether they reach the end of what is committed now: neither the row limit nor
        /// the byte budget cut the page short.
        public var isLast: Bool
    }

    /// Up to `limit` notifications of `topic` with seq > `after`, in seq order, and no more
    /// than `maximumPageBytes` of data (at least one).
    public func read(topic: String, after: Int64, limit: Int) async throws -> Page {
        let rows = try await self.query(PostgresQuery(Self.pageSQL, topic, after, limit, self.maximumPageBytes))
        let notifications = try Self.decode(rows)
        guard let first = rows.first else { return Page(notifications: [], isLast: true) }
        let available: Int
        do {
            available = try first.decode(Int.self, at: 7)
        } catch {
            throw HeraldError.internalError("cannot read a page: \(error)")
        }
        return Page(notifications: notifications, isLast: available < limit && notifications.count == available)
    }

    /// A page: the rows after a position while their data together stays within the byte
    /// budget (the first row always), each with the number of rows the row limit let
    /// through (so a page cut by bytes is told from one that reached the end). `size` is NULL only for rows older
    /// than schema 3; their stored size stands in.
    ///
    /// The windows run over the limited rows (an inner query): a window in the query that
    /// has the `LIMIT` would be computed over every row after the position first.
    static let pageSQL = """
        SELECT \(columns), n.available FROM (
            SELECT p.*, sum(p.bytes) OVER (ORDER BY p.seq) AS running, count(*) OVER () AS available
            FROM (
                SELECT n.*, coalesce(n.size, pg_column_size(n.data)) AS bytes
                FROM herald.notifications n
                WHERE n.topic = $1 AND n.seq > greatest($2, \(purgedThrough("$1")))
                  AND (n.expires_at IS NULL OR n.expires_at > now())
                ORDER BY n.seq
                LIMIT $3
            ) p
        ) n
        WHERE n.running <= $4 OR n.running = n.bytes
        ORDER BY n.seq
        """

    /// What a poll answers: across `positions`, the oldest notifications after them (each
    /// topic's share a prefix of its log, so nothing is skipped), at most `limit` and no
    /// more than `maximumPageBytes` of data (at least one), ordered by the time each took its
    /// seq (`created_at`).
    ///
    /// The choice is made on the rows' keys alone; only the chosen rows' data is read.
    public func poll(after positions: [(topic: String, seq: Int64)], limit: Int) async throws -> [Notification] {
        let rows = try await self.query(
            PostgresQuery(Self.pollSQL, positions.map(\.topic), positions.map(\.seq), limit, self.maximumPageBytes)
        )
        return try Self.decode(rows)
    }

    static let pollSQL = """
        WITH keys AS (
            SELECT k.topic, k.seq, k.created_at, k.bytes
            FROM unnest($1::text[], $2::int8[]) AS p(topic, after)
            CROSS JOIN LATERAL (
                SELECT n.topic, n.seq, n.created_at, coalesce(n.size, pg_column_size(n.data)) AS bytes
                FROM herald.notifications n
                WHERE n.topic = p.topic AND n.seq > greatest(p.after, \(purgedThrough("p.topic")))
                  AND (n.expires_at IS NULL OR n.expires_at > now())
                ORDER BY n.seq
                LIMIT $3
            ) k
            ORDER BY k.created_at, k.topic, k.seq
            LIMIT $3
        ),
        chosen AS (
            SELECT k.*, sum(k.bytes) OVER (ORDER BY k.created_at, k.topic, k.seq) AS running FROM keys k
        )
        SELECT \(columns)
        FROM chosen c
        CROSS JOIN LATERAL (
            SELECT * FROM herald.notifications n
            WHERE n.topic = c.topic AND n.seq = c.seq AND n.created_at = c.created_at
            LIMIT 1
        ) n
        WHERE c.running <= $4 OR c.running = c.bytes
        ORDER BY c.created_at, c.topic, c.seq
        """

    /// Replaces the pool's connections (and those of pools retiring with it) before their
    /// next use: their server was found read-only.
    public func retireConnections() {
        self.pool.retireConnections()
    }

    /// Runs a statement, mapping database failures to Herald errors.
    func query(_ query: PostgresQuery) async throws -> PostgresResult {
        do {
            return try await self.pool.query(query)
        } catch let error as PostgresError where error.isTransient {
            throw HeraldError.databaseUnavailable
        } catch {
            throw HeraldError.internalError("\(error)")
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
            throw HeraldError.internalError("cannot read a notification: \(error)")
        }
    }
}
