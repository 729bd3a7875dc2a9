import HeraldPostgres

import struct Foundation.UUID

/// One group-commit transaction's items, as `herald.publish_items` or
/// `herald.publish_plain` takes them (`PublishBatch+Statement`), and the reading of its
/// answer.
///
/// Each item sent has its notification id chosen here: when the answer is lost with the
/// connection, the ids found in the log tell what the batch stored (`Publisher+Outcome`).
///
/// Items are numbered across the batch's requests. An item repeating the (topic,
/// idempotency key) of an earlier item in the batch is not sent: it gets that item's
/// notification as a replay. The two requests are then one group for the database: when
/// one is deferred, so is the other, which depends on it.
struct PublishBatch {
    /// Every item of every request, in order.
    let items: [PublishItem]
    /// The request (its index in the batch) of each item.
    let requestOf: [Int]
    /// The items sent, by index into `items`; item `sent[i]` is `ord` i + 1 in SQL.
    let sent: [Int]
    /// The notification id of each item sent (`ids[i]` for `sent[i]`).
    let ids: [UUID]
    /// Items not sent, each with the earlier item it repeats.
    let repeatOf: [Int: Int]
    /// The number of requests.
    let requestCount: Int
    /// Each request's group (requests linked by repeated keys share one): what the
    /// database defers together.
    let groupOf: [Int]

    /// An idempotency key, with its topic.
    struct KeyedItem: Hashable {
        var topic: String
        var key: String
    }

    /// Numbers the items of `requests`.
    init(_ requests: [[PublishItem]]) {
        var items: [PublishItem] = []
        var requestOf: [Int] = []
        for (request, requestItems) in requests.enumerated() {
            items.append(contentsOf: requestItems)
            requestOf.append(contentsOf: repeatElement(request, count: requestItems.count))
        }
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
        var groupOf = Array(requests.indices)
        func root(_ request: Int) -> Int {
            var request = request
            while groupOf[request] != request { request = groupOf[request] }
            return request
        }
        for (index, first) in repeatOf {
            let (a, b) = (root(requestOf[index]), root(requestOf[first]))
            groupOf[max(a, b)] = min(a, b)
        }
        self.items = items
        self.requestOf = requestOf
        self.sent = sent
        self.ids = UUID.version4(count: sent.count)
        self.repeatOf = repeatOf
        self.requestCount = requests.count
        self.groupOf = groupOf.indices.map(root)
    }

    /// The requests of `groups`.
    func requests(inGroups groups: Set<Int>) -> Set<Int> {
        Set(self.groupOf.indices.filter { groups.contains(self.groupOf[$0]) })
    }

    /// The batch's distinct topics.
    var topics: Set<String> { Set(self.items.map(\.topic)) }

    /// The parameters of `herald.publish_items`.
    func bindings(skipLocked: Bool) -> PostgresBindings {
        var requests: [Int32] = []
        var topics: [String] = []
        var events: [String] = []
        var data: [String] = []
        var ttls: [Int32?] = []
        var keys: [String?] = []
        for index in self.sent {
            let item = self.items[index]
            requests.append(Int32(self.groupOf[self.requestOf[index]]))
            topics.append(item.topic)
            events.append(item.event)
            data.append(item.data)
            ttls.append(item.ttl)
            keys.append(item.idempotencyKey)
        }
        var bindings = PostgresBindings()
        bindings.append(skipLocked)
        bindings.append(requests)
        bindings.append(topics)
        bindings.append(self.ids)
        bindings.append(events)
        bindings.append(data)
        bindings.append(ttls)
        bindings.append(keys)
        return bindings
    }

    /// What became of the batch: a result per item (nil for the items of deferred
    /// requests), and the requests deferred because a topic of theirs was held by another
    /// transaction.
    struct Outcome {
        var results: [PublishResult?]
        var deferred: Set<Int>
        /// The topics of the deferred requests.
        func heldTopics(of batch: PublishBatch) -> Set<String> {
            Set(batch.items.indices.filter { self.deferred.contains(batch.requestOf[$0]) }.map { batch.items[$0].topic })
        }
    }

    /// Reads the rows `herald.publish_items` returned:
    /// `ord, seq, id, created_at, expires_at, replayed, event, data, deferred`.
    func outcome(from rows: PostgresResult) throws -> Outcome {
        var results = [PublishResult?](repeating: nil, count: self.items.count)
        var deferred: Set<Int> = []
        for row in rows {
            let index = self.sent[try row.decode(Int.self, at: 0) - 1]
            if try row.decode(Bool.self, at: 8) {
                deferred.insert(self.groupOf[self.requestOf[index]])
                continue
            }
            let item = self.items[index]
            let replayed = try row.decode(Bool.self, at: 5)
            results[index] = PublishResult(
                notification: Notification(
                    topic: item.topic,
                    seq: try row.decode(Int64.self, at: 1),
                    id: try row.decode(UUID.self, at: 2),
                    event: replayed ? try row.decode(String.self, at: 6) : item.event,
                    data: replayed ? try row.decode(String.self, at: 7) : item.data,
                    createdAt: try row.decode(PostgresTimestamp.self, at: 3),
                    expiresAt: try row.decode(PostgresTimestamp?.self, at: 4)
                ),
                replayed: replayed
            )
        }
        return try self.completed(results, deferredGroups: deferred)
    }

    /// Gives repeats within the batch their original's result; checks every item of a
    /// request not deferred has one.
    func completed(_ results: [PublishResult?], deferredGroups: Set<Int>) throws -> Outcome {
        var results = results
        let deferred = self.requests(inGroups: deferredGroups)
        for (index, first) in self.repeatOf where !deferred.contains(self.requestOf[index]) {
            guard let original = results[first] else { continue }
            results[index] = PublishResult(notification: original.notification, replayed: true)
        }
        for index in self.items.indices where results[index] == nil && !deferred.contains(self.requestOf[index]) {
            throw PostgresError(kind: .decoding, message: "herald.publish_items returned no row for item \(index)")
        }
        return Outcome(results: results, deferred: deferred)
    }
}
