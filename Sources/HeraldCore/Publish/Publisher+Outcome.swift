import HeraldPostgres
import Logging

import struct Foundation.UUID

extension Publisher {
    /// How much older than its sending a lost batch's rows may look: a step back of the
    /// database server's clock, in seconds.
    static let clockStepAllowance = 1.0

    /// Finds out what `batch`, whose connection was lost while it ran, stored, and answers
    /// accordingly: its results when it committed, `unavailable` saying nothing was stored
    /// when it did not, and, only when neither can be known before the requests' deadline,
    /// `unavailable` saying the outcome is unknown.
    ///
    /// The batch chose its notifications' ids (`PublishBatch.ids`). First the server process
    /// it was sent to must be done with it: gone, idle, or ended from here
    /// (`pg_terminate_backend`: a statement still running rolls back, a COMMIT under way
    /// completes first). From then on the log holds all the batch stored or nothing of it,
    /// on whatever server the pool reaches now (after a failover, what that server has).
    /// Nothing is written for this but the rows themselves, so it costs a batch nothing.
    /// A batch whose answer arrived but could not be read is looked up the same way.
    func resolve(_ batch: [Pending], _ plan: PublishBatch, _ error: PostgresError, sentAt: ContinuousClock.Instant) async {
        let unknown = HeraldError(
            .unavailable,
            "the connection to the database was lost while this publish was committing, and whether it was stored "
                + "could not be found out: retry with the same Idempotency-Key"
        )
        // Without the server process, only an answer that arrived but could not be read
        // (the statement has ended) can be looked up.
        guard error.backend != nil || error.kind == .decoding else {
            self.fail(batch, unknown)
            return
        }
        let deadline = batch.map(\.deadline).max() ?? .now
        var failures = 0
        while ContinuousClock.now < deadline {
            do {
                if let backend = error.backend, try await !self.hasEnded(backend) {
                    try await Task.sleep(for: .milliseconds(50))
                    continue
                }
                let seconds = sentAt.duration(to: .now).inSeconds + Self.clockStepAllowance
                let store = NotificationStore(pool: self.pool)
                let stored = try await store.notifications(withIDs: plan.ids, topics: plan.topics.sorted(), storedWithin: seconds)
                guard !stored.isEmpty else {
                    self.fail(batch, HeraldError(.unavailable, "the connection to the database was lost; nothing was stored, retry shortly"))
                    return
                }
                guard let outcome = try await self.recoveredOutcome(plan, stored, store) else {
                    self.fail(batch, unknown)
                    return
                }
                self.finish(batch, plan, outcome)
                return
            } catch {
                failures += 1
                self.logger.debug("cannot find out a batch's outcome yet", metadata: ["error": "\(error)"])
                try? await Task.sleep(for: .milliseconds(min(1000, 50 << min(failures, 5))))
            }
        }
        self.fail(batch, unknown)
    }

    /// Whether `backend` is done with its statement: gone, idle, or ended now (waiting up
    /// to 250 ms for it to exit). One waiting for a synchronous standby's confirmation is
    /// left alone: ended there, its commit would become visible on this server alone, and
    /// be answered 201 though a failover could lose it.
    private func hasEnded(_ backend: PostgresBackend) async throws -> Bool {
        let rows = try await self.pool.query(
            PostgresQuery(
                """
                SELECT CASE WHEN wait_event = 'SyncRep' THEN false ELSE pg_terminate_backend(pid, 250) END FROM pg_stat_activity
                WHERE pid = $1 AND backend_start = $2::timestamptz AND state IS DISTINCT FROM 'idle'
                """,
                Int(backend.pid), backend.startedAt
            )
        )
        guard let row = rows.first else { return true }
        return try row.decode(Bool.self, at: 0)
    }

    /// The outcome of a batch that committed, from the notifications found by its ids: the
    /// requests of a group with items found are answered (their other items repeated an
    /// idempotency key, and get the notification it names); groups with none found were
    /// deferred (or only repeated keys) and go through again. Nil when a request is found
    /// in part.
    private func recoveredOutcome(
        _ plan: PublishBatch, _ stored: [UUID: Notification], _ store: NotificationStore
    ) async throws -> PublishBatch.Outcome? {
        var results = [PublishResult?](repeating: nil, count: plan.items.count)
        var storedGroups: Set<Int> = []
        for (offset, index) in plan.sent.enumerated() {
            guard var notification = stored[plan.ids[offset]] else { continue }
            // As a publish answers: the data as it was sent.
            notification.event = plan.items[index].event
            notification.data = plan.items[index].data
            results[index] = PublishResult(notification: notification, replayed: false)
            storedGroups.insert(plan.groupOf[plan.requestOf[index]])
        }
        let replays = plan.sent.filter { results[$0] == nil && storedGroups.contains(plan.groupOf[plan.requestOf[$0]]) }
        var keys: [(topic: String, key: String)] = []
        for index in replays {
            guard let key = plan.items[index].idempotencyKey else { return nil }
            keys.append((plan.items[index].topic, key))
        }
        var originals: [PublishBatch.KeyedItem: Notification] = [:]
        for found in try await store.notifications(withKeys: keys) {
            originals[PublishBatch.KeyedItem(topic: found.topic, key: found.key)] = found.notification
        }
        for (index, key) in zip(replays, keys) {
            guard let original = originals[PublishBatch.KeyedItem(topic: key.topic, key: key.key)] else { return nil }
            results[index] = PublishResult(notification: original, replayed: true)
        }
        return try plan.completed(results, deferredGroups: Set(plan.groupOf).subtracting(storedGroups))
    }
}
