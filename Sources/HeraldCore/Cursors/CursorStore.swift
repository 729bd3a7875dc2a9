import HeraldPostgres
import Logging
import ServiceLifecycle
import Synchronization

/// Server-side cursors: per client id and topic, the last acknowledged position.
///
/// Acknowledgements are kept in memory and written together about once a second (one
/// statement for every client), so a busy stream costs no write per event; a write only
/// moves a cursor forward (`greatest(old, new)`), so a late or repeated write never moves
/// it back. (Only a stored cursor past its topic's last seq, as after a restore from an
/// older backup, is brought back to that last seq when a subscription begins.) Reads
/// merge the stored cursors with those not yet written. Run it as a service: it flushes
/// every `interval` and once more on graceful shutdown.
public final class CursorStore: Service, Sendable {
    let pool: PostgresPool
    let interval: Duration
    let logger: Logger
    private let pending = Mutex<Pending>(Pending())

    private struct Pending {
        /// Recorded, not written yet.
        var recorded: [String: [String: Int64]] = [:]
        /// Batches being written right now, by flush (flushes may overlap: the periodic one
        /// and an explicit one): still visible to readers until their write is done.
        var writing: [Int: [String: [String: Int64]]] = [:]
        var nextFlush = 0
    }

    /// Creates a store writing through `pool` every `interval`.
    public init(pool: PostgresPool, interval: Duration = .seconds(1), logger: Logger = Logger(label: "herald.cursors")) {
        self.pool = pool
        self.interval = interval
        self.logger = logger
    }

    /// Records that `client` has received everything up to these positions.
    public func record(client: String, _ positions: [(topic: String, seq: Int64)]) {
        self.pending.withLock { pending in
            var cursors = pending.recorded[client] ?? [:]
            for position in positions where position.seq > cursors[position.topic] ?? -1 {
                cursors[position.topic] = position.seq
            }
            pending.recorded[client] = cursors
        }
    }

    /// Records one position.
    public func record(client: String, topic: String, seq: Int64) {
        self.record(client: client, [(topic: topic, seq: seq)])
    }

    /// The client's cursors: stored, and recorded but not yet written.
    public func cursors(client: String) async throws -> [String: Int64] {
        let rows = try await self.query(PostgresQuery("SELECT topic, seq FROM herald.cursors WHERE client = $1", client))
        var cursors: [String: Int64] = [:]
        do {
            for row in rows { cursors[try row.decode(String.self, at: 0)] = try row.decode(Int64.self, at: 1) }
        } catch {
            throw HeraldError.internalError("cannot read cursors: \(error)")
        }
        for (topic, seq) in self.unwritten(client: client) where seq > cursors[topic] ?? -1 {
            cursors[topic] = seq
        }
        return cursors
    }

    /// The client's positions recorded and not written yet (or being written).
    private func unwritten(client: String) -> [String: Int64] {
        self.pending.withLock { pending in
            pending.writing.values.reduce(pending.recorded[client] ?? [:]) { merged, batch in
                merged.merging(batch[client] ?? [:]) { max($0, $1) }
            }
        }
    }

    /// Reads, for a client starting on `topics`, each topic's last seq and the client's
    /// stored cursor (merged with what is recorded and not written yet), and in the same
    /// statement creates the client's cursor where it has none (at the explicit position,
    /// else at the last seq: "now") and brings back to the last seq one stored past it (a
    /// database restored from an older backup). Nothing changes when an explicit position is
    /// past its topic's last seq (the caller refuses the request).
    func begin(client: String, topics: [String], explicit: Cursor) async throws -> (heads: [String: Int64], stored: [String: Int64]) {
        let unwritten = self.unwritten(client: client)
        var bindings = PostgresBindings()
        bindings.append(client)
        bindings.append(topics)
        bindings.append(topics.map { explicit[$0] })
        bindings.append(topics.map { unwritten[$0] })
        let rows = try await self.query(PostgresQuery(sql: Self.beginSQL, bindings: bindings))
        var heads: [String: Int64] = [:]
        var stored: [String: Int64] = [:]
        do {
            for row in rows {
                let topic = try row.decode(String.self, at: 0)
                heads[topic] = try row.decode(Int64.self, at: 1)
                if let seq = try row.decode(Int64?.self, at: 2) { stored[topic] = seq }
            }
        } catch {
            throw HeraldError.internalError("cannot read cursors: \(error)")
        }
        for (topic, seq) in unwritten where seq > stored[topic] ?? -1 {
            stored[topic] = seq
        }
        return (heads, stored)
    }

    static let beginSQL = """
        WITH r AS (
            SELECT r.topic, r.explicit, r.unwritten, coalesce(t.last_seq, 0) AS head, c.seq AS stored
            FROM unnest($2::text[], $3::int8[], $4::int8[]) AS r(topic, explicit, unwritten)
            LEFT JOIN herald.topics t ON t.name = r.topic
            LEFT JOIN herald.cursors c ON c.client = $1 AND c.topic = r.topic
        ),
        created AS (
            INSERT INTO herald.cursors (client, topic, seq)
            SELECT $1, r.topic, coalesce(r.explicit, r.head) FROM r
            WHERE r.stored IS NULL AND r.unwritten IS NULL AND NOT EXISTS (SELECT 1 FROM r WHERE r.explicit > r.head)
            ON CONFLICT (client, topic) DO NOTHING
            RETURNING topic, seq
        ),
        clamped AS (
            UPDATE herald.cursors c SET seq = r.head, updated_at = now()
            FROM r
            WHERE c.client = $1 AND c.topic = r.topic AND c.seq > r.head AND NOT EXISTS (SELECT 1 FROM r WHERE r.explicit > r.head)
        )
        SELECT r.topic, r.head, least(coalesce(c.seq, r.stored), r.head) FROM r LEFT JOIN created c ON c.topic = r.topic
        """

    /// Writes what was recorded; what cannot be written now is kept for the next time.
    public func flush() async {
        let taken = self.pending.withLock { pending -> (flush: Int, batch: [String: [String: Int64]])? in
            guard !pending.recorded.isEmpty else { return nil }
            let flush = pending.nextFlush
            pending.nextFlush += 1
            let batch = pending.recorded
            pending.writing[flush] = batch
            pending.recorded = [:]
            return (flush, batch)
        }
        guard let (flush, batch) = taken else { return }
        defer { self.pending.withLock { _ = $0.writing.removeValue(forKey: flush) } }
        var clients: [String] = []
        var topics: [String] = []
        var seqs: [Int64] = []
        for (client, cursors) in batch {
            for (topic, seq) in cursors {
                clients.append(client)
                topics.append(topic)
                seqs.append(seq)
            }
        }
        var bindings = PostgresBindings()
        bindings.append(clients)
        bindings.append(topics)
        bindings.append(seqs)
        do {
            try await self.pool.query(
                PostgresQuery(
                    sql: """
                        INSERT INTO herald.cursors AS c (client, topic, seq)
                        SELECT * FROM unnest($1::text[], $2::text[], $3::int8[])
                        ON CONFLICT (client, topic) DO UPDATE
                            SET seq = greatest(c.seq, excluded.seq), updated_at = now()
                            WHERE excluded.seq > c.seq
                        """,
                    bindings: bindings
                )
            )
        } catch {
            self.logger.warning("cannot write cursors; keeping them for the next try", metadata: ["error": "\(error)"])
            for (client, cursors) in batch {
                self.record(client: client, cursors.map { (topic: $0.key, seq: $0.value) })
            }
        }
    }

    /// Flushes every `interval` until graceful shutdown, then once more.
    public func run() async {
        while !Task.isShuttingDownGracefully && !Task.isCancelled {
            let interval = self.interval
            try? await cancelWhenGracefulShutdown { try await Task.sleep(for: interval) }
            await self.flush()
        }
        await self.flush()
    }

    private func query(_ query: PostgresQuery) async throws -> PostgresResult {
        do {
            return try await self.pool.query(query)
        } catch let error as PostgresError where error.isTransient {
            throw HeraldError.databaseUnavailable
        }
    }
}
