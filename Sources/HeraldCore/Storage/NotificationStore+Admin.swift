import HeraldPostgres

extension NotificationStore {
    /// Loads every purge mark (when the LISTEN connection comes up: notices sent while it
    /// was down are lost).
    public func loadPurges() async {
        guard let rows = try? await self.query("SELECT topic, through_seq FROM herald.purges") else { return }
        for row in rows {
            guard let topic = try? row.decode(String.self, at: 0), let seq = try? row.decode(Int64.self, at: 1) else { continue }
            self.purges.record(topic: topic, through: seq)
        }
    }

    /// Topics in name order after `after` (at most `limit`), or the one named `only`; only
    /// topics that were published to.
    public func topics(after: String = "", limit: Int = 1000, only: String? = nil) async throws -> [TopicInfo] {
        let rows = try await self.query(
            PostgresQuery(
                """
                SELECT t.name, t.last_seq, o.oldest, o.count,
                       CASE WHEN isfinite(t.last_created_at) THEN t.last_created_at END, o.purged
                FROM herald.topics t
                CROSS JOIN LATERAL (
                    SELECT min(n.seq) AS oldest, count(n.seq) AS count, m.purged
                    FROM (SELECT \(Self.purgedThrough("t.name")) AS purged) m
                    LEFT JOIN herald.notifications n
                      ON n.topic = t.name AND n.seq > m.purged AND (n.expires_at IS NULL OR n.expires_at > now())
                    GROUP BY m.purged
                ) o
                WHERE t.last_seq > 0 AND ($3::text IS NULL OR t.name = $3) AND t.name > $1
                ORDER BY t.name
                LIMIT $2
                """,
                after, limit, only
            )
        )
        do {
            return try rows.map { row in
                TopicInfo(
                    name: try row.decode(String.self, at: 0), lastSeq: try row.decode(Int64.self, at: 1),
                    oldestSeq: try row.decode(Int64?.self, at: 2), count: try row.decode(Int64.self, at: 3),
                    lastPublishedAt: try row.decode(PostgresTimestamp?.self, at: 4), purgedThrough: try row.decode(Int64.self, at: 5)
                )
            }
        } catch {
            throw HeraldError.internalError("cannot read topics: \(error)")
        }
    }

    /// The position before the first notification of `topic` created at or after `since`
    /// (`now` less `since` seconds, or a time), so that it is the next one delivered; the
    /// topic's last seq when none was created since.
    ///
    /// It relies on `created_at` never decreasing with seq within a topic, which the topic's
    /// row guarantees (each publish takes `greatest(clock, last_created_at)`): every seq
    /// before the one found was created before `since`, whatever the clock did.
    public func position(topic: String, since: ReplayStart.Since) async throws -> Int64 {
        var bindings = PostgresBindings()
        bindings.append(topic)
        switch since {
        case .ago(let duration):
            bindings.append(Optional<String>.none)
            bindings.append(Double(duration.components.seconds) + Double(duration.components.attoseconds) / 1e18)
        case .time(let text):
            bindings.append(text)
            bindings.append(Optional<Double>.none)
        }
        let rows = try await self.query(
            PostgresQuery(
                sql: """
                    WITH since AS (SELECT coalesce($2::timestamptz, now() - make_interval(secs => $3::float8)) AS at)
                    SELECT coalesce(t.last_seq, 0), (
                        SELECT n.seq FROM herald.notifications n, since s
                        WHERE n.topic = $1 AND n.created_at >= s.at AND n.seq > \(Self.purgedThrough("$1"))
                        ORDER BY n.seq LIMIT 1
                    )
                    FROM (SELECT 1) one LEFT JOIN herald.topics t ON t.name = $1
                    """,
                bindings: bindings
            )
        )
        do {
            let last = try rows[0].decode(Int64.self, at: 0)
            guard let first = try rows[0].decode(Int64?.self, at: 1) else { return last }
            return first - 1
        } catch {
            throw HeraldError.internalError("cannot find the position: \(error)")
        }
    }

    /// Purges `topic` through `seq`: records the mark (every read filters on it from the
    /// commit on, and it is announced on the control channel), then deletes the rows in
    /// short statements of at most `chunk` seqs. Neither waits for the topic's row, which
    /// publishing locks: publishing goes on meanwhile.
    public func purge(topic: String, through seq: Int64, chunk: Int64 = 10_000) async throws -> PurgeResult {
        guard seq >= 1 else { throw HeraldError(.invalidParameter, "through_seq is a positive integer, got \(seq)") }
        let rows = try await self.query(
            PostgresQuery(
                """
                WITH t AS (SELECT last_seq FROM herald.topics WHERE name = $1 AND last_seq > 0),
                mark AS (
                    INSERT INTO herald.purges AS p (topic, through_seq)
                    SELECT $1, $2 FROM t WHERE $2 <= t.last_seq
                    ON CONFLICT (topic) DO UPDATE SET through_seq = greatest(p.through_seq, excluded.through_seq), purged_at = now()
                    RETURNING p.through_seq,
                        pg_notify('\(CursorStore.controlChannel)', 'purge:' || $1 || ':' || p.through_seq) AS notified
                )
                SELECT t.last_seq, m.through_seq, (SELECT min(n.seq) FROM herald.notifications n WHERE n.topic = $1)
                FROM t LEFT JOIN mark m ON true
                """,
                topic, seq
            )
        )
        let through: Int64
        var next: Int64
        do {
            guard let row = rows.first else { throw HeraldError(.notFound, "no topic \(topic)") }
            let last = try row.decode(Int64.self, at: 0)
            guard let mark = try row.decode(Int64?.self, at: 1) else {
                throw HeraldError(.invalidParameter, "through_seq \(seq) is past the topic's last seq \(last)")
            }
            through = mark
            next = try row.decode(Int64?.self, at: 2) ?? (seq + 1)
        } catch let error as HeraldError {
            throw error
        } catch {
            throw HeraldError.internalError("cannot purge: \(error)")
        }
        self.purges.record(topic: topic, through: through)
        var deleted: Int64 = 0
        do {
            while next <= seq {
                let upper = min(seq, next + chunk - 1)
                let result = try await self.query(
                    PostgresQuery(
                        "DELETE FROM herald.notifications WHERE topic = $1 AND seq >= $2 AND seq <= $3 RETURNING 1", topic, next, upper
                    )
                )
                deleted += Int64(result.count)
                next = upper + 1
            }
            _ = try await self.query(PostgresQuery("DELETE FROM herald.idempotency_keys WHERE topic = $1 AND seq <= $2", topic, seq))
        } catch var error as HeraldError where error.kind == .unavailable {
            // A row locked by another transaction, a time limit: the purge holds for readers
            // already; the same purge again deletes what is left.
            error.message = "\(topic) is purged through \(through) for every reader, but deleting its rows did not finish "
                + "(\(deleted) deleted; a lock or time limit): send the purge again to delete the rest"
            throw error
        }
        return PurgeResult(topic: topic, purgedThrough: through, deleted: deleted)
    }
}
