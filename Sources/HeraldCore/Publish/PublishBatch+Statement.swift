import HeraldPostgres

extension PublishBatch {
    /// The statement that commits a batch, and how to read its answer.
    struct Statement {
        /// The query to run.
        var query: PostgresQuery
        /// The numbering sent to `herald.publish_plain`, or nil for `herald.publish_items`.
        var plain: PlainNumbering?
    }

    /// The general statement (see `herald.publish_items` in migrations/); `$1` says whether
    /// to skip topics other transactions hold (a probe) or wait for them.
    static let itemsSQL = """
        SELECT ord, seq, id, created_at, expires_at, replayed, event, data, deferred
        FROM herald.publish_items($1::bool, $2::int4[], $3::text[], $4::uuid[], $5::text[], $6::text[], $7::int4[], $8::text[])
        """

    /// The statement for items without idempotency keys that wait for their locks (see
    /// `herald.publish_plain`): one row per topic, in `PlainNumbering.topics` order.
    static let plainSQL = """
        SELECT last_seq, created_at
        FROM herald.publish_plain($1::text[], $2::int4[], $3::int4[], $4::int4[], $5::uuid[], $6::text[], $7::text[], $8::int4[])
        """

    /// Whether every item goes in as it is: none has an idempotency key (which would need
    /// looking up, and may repeat another).
    var isPlain: Bool { self.repeatOf.isEmpty && self.items.allSatisfy { $0.idempotencyKey == nil } }

    /// The statement committing the batch: `herald.publish_plain` when it is plain and
    /// waits for its locks (nearly always), else `herald.publish_items`, skipping held
    /// topics when `skipLocked` (a probe).
    func statement(skipLocked: Bool) -> Statement {
        guard !skipLocked, self.isPlain else {
            return Statement(query: PostgresQuery(sql: Self.itemsSQL, bindings: self.bindings(skipLocked: skipLocked)), plain: nil)
        }
        // Every item is sent (no key repeats another): `ids[i]` is item i's.
        let numbering = PlainNumbering(self.items.lazy.map(\.topic))
        var bindings = PostgresBindings()
        bindings.append(numbering.topics)
        bindings.append(numbering.counts)
        bindings.append(numbering.topicOf)
        bindings.append(numbering.ranks)
        bindings.append(self.ids)
        bindings.append(self.items.map(\.event))
        bindings.append(self.items.map(\.data))
        bindings.append(self.items.map(\.ttl))
        return Statement(query: PostgresQuery(sql: Self.plainSQL, bindings: bindings), plain: numbering)
    }

    /// Reads the answer of `statement`.
    func outcome(of statement: Statement, from rows: PostgresResult) throws -> Outcome {
        guard let numbering = statement.plain else { return try self.outcome(from: rows) }
        var lastSeqs: [Int64] = []
        var created: [PostgresTimestamp] = []
        lastSeqs.reserveCapacity(numbering.topics.count)
        created.reserveCapacity(numbering.topics.count)
        for row in rows {
            lastSeqs.append(try row.decode(Int64.self, at: 0))
            created.append(try row.decode(PostgresTimestamp.self, at: 1))
        }
        guard lastSeqs.count == numbering.topics.count else {
            throw PostgresError(kind: .decoding, message: "herald.publish_plain returned \(lastSeqs.count) rows for \(numbering.topics.count) topics")
        }
        var results: [PublishResult?] = []
        results.reserveCapacity(self.items.count)
        for (index, item) in self.items.enumerated() {
            let createdAt = created[numbering.topic(of: index)]
            let notification = Notification(
                topic: item.topic,
                seq: numbering.seq(of: index, lastSeqs: lastSeqs),
                id: self.ids[index],
                event: item.event,
                data: item.data,
                createdAt: createdAt,
                // As the statement stores it: created_at + make_interval(secs => ttl).
                expiresAt: item.ttl.map { PostgresTimestamp(microsecondsSinceEpoch: createdAt.microsecondsSinceEpoch + Int64($0) * 1_000_000) }
            )
            results.append(PublishResult(notification: notification, replayed: false))
        }
        return Outcome(results: results, deferred: [])
    }
}
