import HeraldPostgres
import Logging
import ServiceLifecycle
import Synchronization

/// Server-side cursors: per client id and topic, the last acknowledged position.
///
/// Acknowledgements are kept in memory and written together about once a second (one
/// statement for every client), so a busy stream costs no write per event; a write only
/// moves a cursor forward (`greatest(old, new)`), so a late or repeated write never moves
/// it back. Reads merge the stored cursors with those not yet written. Run it as a
/// service: it flushes every `interval` and once more on graceful shutdown.
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
            throw HeraldError(.internalError, "cannot read cursors: \(error)")
        }
        let unwritten = self.pending.withLock { pending in
            pending.writing.values.reduce(pending.recorded[client] ?? [:]) { merged, batch in
                merged.merging(batch[client] ?? [:]) { max($0, $1) }
            }
        }
        for (topic, seq) in unwritten where seq > cursors[topic] ?? -1 {
            cursors[topic] = seq
        }
        return cursors
    }

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
        } catch let error as PostgresError where error.isUnavailable {
            throw HeraldError.databaseUnavailable
        }
    }
}
