import HeraldPostgres

/// Direct reads of a test database, to check what is stored.
struct TestDatabase: Sendable {
    let url: String

    func query(_ query: PostgresQuery) async throws -> PostgresResult {
        let pool = PostgresPool(configuration: .init(connectionString: self.url, maximumConnections: 1))
        defer { pool.shutdown() }
        return try await pool.query(query)
    }

    /// The seqs stored for `topic`, in order.
    func seqs(_ topic: String) async throws -> [Int64] {
        let rows = try await self.query(PostgresQuery("SELECT seq FROM herald.notifications WHERE topic = $1 ORDER BY seq", topic))
        return try rows.map { try $0.decode(Int64.self, at: 0) }
    }

    /// The stored cursor of `client` on `topic` once it reaches `seq`, polling for up to
    /// four seconds (cursors are written about a second after they move, a little later
    /// under load); whatever is stored at the deadline otherwise.
    func cursor(client: String, topic: String, reaching seq: Int) async throws -> Int? {
        var stored: Int?
        let deadline = ContinuousClock.now + .seconds(4)
        while stored != seq, ContinuousClock.now < deadline {
            try await Task.sleep(for: .milliseconds(100))
            let rows = try await self.query(
                PostgresQuery("SELECT seq FROM herald.cursors WHERE client = $1 AND topic = $2", client, topic)
            )
            stored = try rows.first?.decode(Int.self, at: 0)
        }
        return stored
    }

    /// A summary of everything stored: counts of notifications, topics and keys, and the
    /// sum of the topics' last seqs; equal summaries mean nothing changed.
    func fingerprint() async throws -> String {
        let rows = try await self.query(
            """
            SELECT (SELECT count(*) FROM herald.notifications)::text || '/' ||
                   (SELECT count(*) FROM herald.topics)::text || '/' ||
                   (SELECT coalesce(sum(last_seq), 0) FROM herald.topics)::text || '/' ||
                   (SELECT count(*) FROM herald.idempotency_keys)::text
            """
        )
        return try rows[0].decode(String.self, at: 0)
    }
}
