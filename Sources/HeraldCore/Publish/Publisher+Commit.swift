import HeraldPostgres
import Logging
import Metrics

import struct Foundation.UUID

extension Publisher {
    /// The statement every batch runs (see `herald.publish` in migrations/).
    static let publishSQL = """
        SELECT ord, seq, id, created_at, expires_at, replayed, event, data
        FROM herald.publish($1::text[], $2::text[], $3::text[], $4::int4[], $5::text[])
        """

    private struct KeyedItem: Hashable {
        var topic: String
        var key: String
    }

    /// Commits one batch and answers its requests.
    func commit(_ batch: [Pending]) async {
        let items = batch.flatMap(\.items)
        do {
            let results = try await self.write(items)
            var offset = 0
            for pending in batch {
                pending.continuation.resume(returning: Array(results[offset..<offset + pending.items.count]))
                offset += pending.items.count
            }
            self.publishedCounter.increment(by: results.filter { !$0.replayed }.count)
        } catch let error as PostgresError where error.isUnavailable || batch.count == 1 {
            let answer =
                error.isUnavailable
                ? HeraldError.databaseUnavailable
                : HeraldError(.internalError, "the notification could not be stored: \(error.message)")
            if !error.isUnavailable { self.logger.error("publish failed", metadata: ["error": "\(error)"]) }
            for pending in batch { pending.continuation.resume(throwing: answer) }
        } catch {
            // Not the database's availability: find the request at fault by retrying alone.
            self.logger.warning("group commit failed, retrying its requests one by one", metadata: ["error": "\(error)"])
            for pending in batch { await self.commit([pending]) }
        }
    }

    /// Writes `items` in one transaction and returns their results in order.
    ///
    /// Items repeating a (topic, idempotency key) of an earlier item in the same batch are
    /// not sent: they get the earlier item's notification as a replay.
    func write(_ items: [PublishItem]) async throws -> [PublishResult] {
        var sent: [Int] = []
        var firstWithKey: [KeyedItem: Int] = [:]
        var repeatOf: [Int: Int] = [:]
        sent.reserveCapacity(items.count)
        for (index, item) in items.enumerated() {
            if let key = item.idempotencyKey {
                let keyed = KeyedItem(topic: item.topic, key: key)
                if let first = firstWithKey[keyed] {
                    repeatOf[index] = first
                    continue
                }
                firstWithKey[keyed] = index
            }
            sent.append(index)
        }

        var topics: [String] = []
        var events: [String] = []
        var data: [String] = []
        var ttls: [Int32?] = []
        var keys: [String?] = []
        for index in sent {
            let item = items[index]
            topics.append(item.topic)
            events.append(item.event)
            data.append(item.data)
            ttls.append(item.ttl)
            keys.append(item.idempotencyKey)
        }
        var bindings = PostgresBindings()
        bindings.append(topics)
        bindings.append(events)
        bindings.append(data)
        bindings.append(ttls)
        bindings.append(keys)
        let rows = try await self.pool.query(PostgresQuery(sql: Self.publishSQL, bindings: bindings))
        self.transactionItems.record(sent.count)

        var results = [PublishResult?](repeating: nil, count: items.count)
        for row in rows {
            let index = sent[try row.decode(Int.self, at: 0) - 1]
            let item = items[index]
            let replayed = try row.decode(Bool.self, at: 5)
            let notification = Notification(
                topic: item.topic,
                seq: try row.decode(Int64.self, at: 1),
                id: try row.decode(UUID.self, at: 2),
                event: replayed ? try row.decode(String.self, at: 6) : item.event,
                data: replayed ? try row.decode(String.self, at: 7) : item.data,
                createdAt: try row.decode(PostgresTimestamp.self, at: 3),
                expiresAt: try row.decode(PostgresTimestamp?.self, at: 4)
            )
            results[index] = PublishResult(notification: notification, replayed: replayed)
        }
        for (index, first) in repeatOf {
            guard let original = results[first] else { continue }
            results[index] = PublishResult(notification: original.notification, replayed: true)
        }
        return try results.map { result in
            guard let result else {
                throw PostgresError(kind: .decoding, message: "herald.publish returned fewer rows than items")
            }
            return result
        }
    }
}
