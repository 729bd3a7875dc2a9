import HeraldPostgres
import Logging

extension CursorStore {
    /// The NOTIFY channel of admin changes (replays, purges), apart from publishing's.
    public static let controlChannel = "herald_control"

    /// Sets `client`'s cursor on `topic` to `seq` (an admin set: it may go backwards),
    /// bumps its version and marks it for a one-shot replay, and announces it on the
    /// control channel in the same transaction, so every instance's connected subscribers
    /// of that client restart there. Refuses a position past the topic's last seq. Returns
    /// the replay.
    public func set(client: String, topic: String, seq: Int64) async throws -> CursorReplay {
        guard seq >= 0 else { throw HeraldError(.invalidCursor, "a cursor position is 0 or more, got \(seq)") }
        let rows = try await self.query(
            PostgresQuery(
                """
                WITH head AS (
                    SELECT coalesce((SELECT last_seq FROM herald.topics WHERE name = $2), 0) AS last_seq
                ),
                cursor AS (
                    INSERT INTO herald.cursors AS c (client, topic, seq, version, replay)
                    SELECT $1, $2, $3, 1, true FROM head WHERE $3 <= head.last_seq
                    ON CONFLICT (client, topic) DO UPDATE
                        SET seq = excluded.seq, version = c.version + 1, replay = true, updated_at = now()
                    RETURNING c.version,
                        pg_notify('\(Self.controlChannel)', 'replay:' || $2 || ':' || $3 || ':' || c.version || ':' || $1) AS notified
                )
                SELECT h.last_seq, c.version FROM head h LEFT JOIN cursor c ON true
                """,
                client, topic, seq
            )
        )
        do {
            let head = try rows[0].decode(Int64.self, at: 0)
            guard let version = try rows[0].decode(Int64?.self, at: 1) else {
                throw HeraldError(.invalidCursor, "\(topic):\(seq) is past the topic's last seq \(head): nothing there exists yet")
            }
            return CursorReplay(client: client, topic: topic, seq: seq, version: version)
        } catch let error as HeraldError {
            throw error
        } catch {
            throw HeraldError.internalError("cannot set a cursor: \(error)")
        }
    }

    /// Forgets `client`'s cursor on `topic`; returns whether there was one. (A subscriber of
    /// that client still connected records its position again as it receives.)
    public func forget(client: String, topic: String) async throws -> Bool {
        let rows = try await self.query(
            PostgresQuery("DELETE FROM herald.cursors WHERE client = $1 AND topic = $2 RETURNING seq", client, topic)
        )
        return rows.count > 0
    }

    /// A connected subscriber restarted at a replay: the one-shot override is used up.
    public func consumeReplay(_ replay: CursorReplay) async {
        do {
            _ = try await self.query(
                PostgresQuery(
                    "UPDATE herald.cursors SET replay = false WHERE client = $1 AND topic = $2 AND version = $3 AND replay",
                    replay.client, replay.topic, replay.version
                )
            )
        } catch {
            self.logger.debug("cannot clear a replay's override", metadata: ["error": "\(error)"])
        }
    }

    /// The client's stored cursors with their versions and whether a replay is pending, by
    /// topic name (what `herald cursors` shows), each merged with what this process recorded
    /// on its version and has not written yet.
    public func entries(client: String) async throws -> [CursorEntry] {
        let rows = try await self.query(
            PostgresQuery(
                "SELECT topic, seq, version, replay, updated_at FROM herald.cursors WHERE client = $1 ORDER BY topic", client
            )
        )
        var stored: [String: Versioned] = [:]
        var entries: [CursorEntry] = []
        do {
            for row in rows {
                let entry = CursorEntry(
                    topic: try row.decode(String.self, at: 0), seq: try row.decode(Int64.self, at: 1),
                    version: try row.decode(Int64.self, at: 2), replayPending: try row.decode(Bool.self, at: 3),
                    updatedAt: try row.decode(PostgresTimestamp.self, at: 4)
                )
                stored[entry.topic] = Versioned(seq: entry.seq, version: entry.version)
                entries.append(entry)
            }
        } catch {
            throw HeraldError.internalError("cannot read cursors: \(error)")
        }
        // What this process recorded and has not written yet counts, as for `cursors(client:)`.
        let merged = self.mergingUnwritten(client: client, into: stored)
        return entries.map { entry in
            var entry = entry
            entry.seq = merged[entry.topic]?.seq ?? entry.seq
            return entry
        }
    }
}

extension CursorStore {
    /// The versions of the client's stored cursors on `topics` (absent: none stored).
    func versions(client: String, topics: [String]) async throws -> [String: Int64] {
        let rows = try await self.query(
            PostgresQuery("SELECT topic, version FROM herald.cursors WHERE client = $1 AND topic = ANY($2::text[])", client, topics)
        )
        var versions: [String: Int64] = [:]
        do {
            for row in rows { versions[try row.decode(String.self, at: 0)] = try row.decode(Int64.self, at: 1) }
        } catch {
            throw HeraldError.internalError("cannot read cursors: \(error)")
        }
        return versions
    }
}
