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
///
/// Every cursor has a version, which only an admin set (a replay, which may move it
/// backwards) changes. What is recorded carries the version it is based on
/// (`CursorMark`) and is written only while that is still the cursor's version, so an
/// acknowledgement or a flush still pending from before the set, on any instance, cannot
/// undo it.
public final class CursorStore: Service, Sendable {
    let pool: PostgresPool
    let interval: Duration
    let logger: Logger
    private let pending = Mutex<Pending>(Pending())

    /// A position and the version of the cursor it is (stored or recorded) on.
    struct Versioned: Sendable, Equatable {
        var seq: Int64
        var version: Int64

        /// The later of two records: a newer version wins, then the greater position.
        func merged(_ other: Versioned) -> Versioned {
            if other.version != self.version { return other.version > self.version ? other : self }
            return other.seq > self.seq ? other : self
        }
    }

    private struct Pending {
        /// Versioned, not written yet.
        var recorded: [String: [String: Versioned]] = [:]
        /// Batches being written right now, by flush (flushes may overlap: the periodic one
        /// and an explicit one): still visible to readers until their write is done.
        var writing: [Int: [String: [String: Versioned]]] = [:]
        var nextFlush = 0
    }

    /// Creates a store writing through `pool` every `interval`.
    public init(pool: PostgresPool, interval: Duration = .seconds(1), logger: Logger = Logger(label: "herald.cursors")) {
        self.pool = pool
        self.interval = interval
        self.logger = logger
    }

    /// Records that `client` has received everything up to these positions.
    public func record(client: String, _ marks: [CursorMark]) {
        self.pending.withLock { pending in
            var cursors = pending.recorded[client] ?? [:]
            for mark in marks {
                let recorded = Versioned(seq: mark.seq, version: mark.version)
                cursors[mark.topic] = cursors[mark.topic].map { $0.merged(recorded) } ?? recorded
            }
            pending.recorded[client] = cursors
        }
    }

    /// The client's cursors: stored, and recorded but not yet written (on the stored
    /// version).
    public func cursors(client: String) async throws -> [String: Int64] {
        var cursors = Dictionary(uniqueKeysWithValues: try await self.entries(client: client).map { ($0.topic, $0.seq) })
        for (topic, recorded) in self.unwritten(client: client) where cursors[topic] == nil {
            cursors[topic] = recorded.seq
        }
        return cursors
    }

    /// `stored` with the client's unwritten records applied where they are based on the
    /// stored version (or where nothing is stored) and further along.
    func mergingUnwritten(client: String, into stored: [String: Versioned]) -> [String: Versioned] {
        var merged = stored
        for (topic, recorded) in self.unwritten(client: client) {
            guard let current = merged[topic] else {
                merged[topic] = Versioned(seq: recorded.seq, version: recorded.version)
                continue
            }
            if recorded.version == current.version, recorded.seq > current.seq { merged[topic]!.seq = recorded.seq }
        }
        return merged
    }

    /// The client's positions recorded and not written yet (or being written).
    func unwritten(client: String) -> [String: Versioned] {
        self.pending.withLock { pending in
            pending.writing.values.reduce(pending.recorded[client] ?? [:]) { merged, batch in
                merged.merging(batch[client] ?? [:]) { $0.merged($1) }
            }
        }
    }

    /// What `begin` found for a client starting on some topics.
    struct Begun: Sendable {
        /// Each topic's last seq.
        var heads: [String: Int64] = [:]
        /// The client's cursor per topic (merged with what is recorded and not written yet),
        /// at most the last seq.
        var stored: [String: Versioned] = [:]
        /// The topics whose cursor an admin set since the client last started on them: this
        /// start consumed the one-shot override, and begins at `stored`.
        var replayed: Set<String> = []
    }

    /// Reads, for a client starting on `topics`, each topic's last seq and the client's
    /// stored cursor (merged with what is recorded and not written yet), and in the same
    /// statement creates the client's cursor where it has none (at the explicit position,
    /// else where it was recorded and not written yet, else at the last seq: "now"), brings
    /// back to the last seq one stored past it (a database restored from an older backup),
    /// and consumes the one-shot override of an admin set. Nothing changes when an explicit position is past its topic's last seq
    /// (the caller refuses the request).
    func begin(client: String, topics: [String], explicit: Cursor) async throws -> Begun {
        let unwritten = self.unwritten(client: client)
        var bindings = PostgresBindings()
        bindings.append(client)
        bindings.append(topics)
        bindings.append(topics.map { explicit[$0] })
        bindings.append(topics.map { unwritten[$0]?.seq })
        let rows = try await self.query(PostgresQuery(sql: Self.beginSQL, bindings: bindings))
        var begun = Begun()
        var stored: [String: Versioned] = [:]
        do {
            for row in rows {
                let topic = try row.decode(String.self, at: 0)
                begun.heads[topic] = try row.decode(Int64.self, at: 1)
                if let seq = try row.decode(Int64?.self, at: 2) {
                    stored[topic] = Versioned(seq: seq, version: try row.decode(Int64.self, at: 3))
                }
                if try row.decode(Bool.self, at: 4) { begun.replayed.insert(topic) }
            }
        } catch {
            throw HeraldError.internalError("cannot read cursors: \(error)")
        }
        // An override starts where the admin set it, whatever was recorded before.
        let merged = self.mergingUnwritten(client: client, into: stored.filter { !begun.replayed.contains($0.key) })
        for topic in topics {
            guard let cursor = begun.replayed.contains(topic) ? stored[topic] : merged[topic] else { continue }
            begun.stored[topic] = Versioned(seq: min(cursor.seq, begun.heads[topic] ?? 0), version: cursor.version)
        }
        return begun
    }

    /// `begin`'s statement. The override is consumed by an UPDATE that re-checks the row,
    /// so of two starts at once only one takes it; one whose row changed version meanwhile
    /// (an admin set just committed) took that set's override.
    static let beginSQL = """
        WITH r AS (
            SELECT r.topic, r.explicit, r.unwritten, coalesce(t.last_seq, 0) AS head, c.seq AS stored, c.version, c.replay
            FROM unnest($2::text[], $3::int8[], $4::int8[]) AS r(topic, explicit, unwritten)
            LEFT JOIN herald.topics t ON t.name = r.topic
            LEFT JOIN herald.cursors c ON c.client = $1 AND c.topic = r.topic
        ),
        refused AS (
            SELECT EXISTS (SELECT 1 FROM r WHERE r.explicit > r.head) AS refused
        ),
        created AS (
            INSERT INTO herald.cursors (client, topic, seq)
            SELECT $1, r.topic, coalesce(r.explicit, least(r.unwritten, r.head), r.head) FROM r
            WHERE r.stored IS NULL AND NOT (SELECT refused FROM refused)
            ON CONFLICT (client, topic) DO NOTHING
            RETURNING topic, seq, version
        ),
        updated AS (
            UPDATE herald.cursors c SET seq = least(c.seq, r.head), replay = false, updated_at = now()
            FROM r
            WHERE c.client = $1 AND c.topic = r.topic AND (c.replay OR c.seq > r.head) AND NOT (SELECT refused FROM refused)
            RETURNING c.topic, c.seq, c.version, c.version IS DISTINCT FROM r.version OR r.replay AS replayed
        )
        SELECT r.topic, r.head,
               coalesce(u.seq, c.seq, r.stored), coalesce(u.version, c.version, r.version, 0), coalesce(u.replayed, false)
        FROM r
        LEFT JOIN created c ON c.topic = r.topic
        LEFT JOIN updated u ON u.topic = r.topic
        """

    /// Writes what was recorded; what cannot be written now is kept for the next time.
    public func flush() async {
        let taken = self.pending.withLock { pending -> (flush: Int, batch: [String: [String: Versioned]])? in
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
        var versions: [Int64] = []
        for (client, cursors) in batch {
            for (topic, recorded) in cursors {
                clients.append(client)
                topics.append(topic)
                seqs.append(recorded.seq)
                versions.append(recorded.version)
            }
        }
        var bindings = PostgresBindings()
        bindings.append(clients)
        bindings.append(topics)
        bindings.append(seqs)
        bindings.append(versions)
        do {
            try await self.pool.query(
                PostgresQuery(
                    sql: """
                        INSERT INTO herald.cursors AS c (client, topic, seq, version)
                        SELECT * FROM unnest($1::text[], $2::text[], $3::int8[], $4::int8[])
                        ON CONFLICT (client, topic) DO UPDATE
                            SET seq = excluded.seq, updated_at = now()
                            WHERE excluded.seq > c.seq AND excluded.version = c.version
                        """,
                    bindings: bindings
                )
            )
        } catch {
            self.logger.warning("cannot write cursors; keeping them for the next try", metadata: ["error": "\(error)"])
            for (client, cursors) in batch {
                self.record(client: client, cursors.map { CursorMark(topic: $0.key, seq: $0.value.seq, version: $0.value.version) })
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

    func query(_ query: PostgresQuery) async throws -> PostgresResult {
        do {
            return try await self.pool.query(query)
        } catch let error as PostgresError where error.isTransient {
            throw HeraldError.databaseUnavailable
        }
    }
}
