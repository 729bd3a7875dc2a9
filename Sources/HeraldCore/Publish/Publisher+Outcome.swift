import HeraldPostgres
import Logging

import struct Foundation.UUID

extension Publisher {
    /// Finds out whether `batch`, whose connection was lost while it ran, committed, and
    /// answers accordingly: its results when it did, `unavailable` with nothing stored when
    /// it did not, and only when neither can be known before the requests' deadline,
    /// `unavailable` saying the outcome is unknown.
    ///
    /// The batch claimed its slot's row first thing, so `SELECT ... FOR UPDATE` on that row
    /// waits until the batch's transaction is over, on whatever server the pool reaches now.
    /// A marker equal to the batch's means it committed. Otherwise the marker is replaced
    /// before the lock is let go, so a batch that had not reached its claim yet (a statement
    /// still on its way to the server) fails it and can never commit afterwards.
    func resolve(_ batch: [Pending], _ plan: PublishBatch, marker: UUID, slot: inout PublishSlot) async {
        let deadline = batch.map(\.deadline).max() ?? .now
        var failures = 0
        while ContinuousClock.now < deadline {
            do {
                let slotID = slot.id
                let fence = UUID()
                let row = try await self.pool.withTransaction { connection -> SlotRow? in
                    try await connection.query("SET LOCAL lock_timeout = '10s'")
                    let rows = try await connection.query(
                        PostgresQuery(
                            """
                            SELECT marker, topics, last_seqs, deferred, replayed_ords, replayed_seqs
                            FROM herald.publish_slots WHERE slot = $1::uuid FOR UPDATE
                            """,
                            slotID
                        )
                    )
                    guard let first = rows.first else { return nil }
                    let row = try SlotRow(first)
                    if row.marker != marker {
                        try await connection.query(
                            PostgresQuery("UPDATE herald.publish_slots SET marker = $2::uuid WHERE slot = $1::uuid", slotID, fence)
                        )
                    }
                    return row
                }
                guard let row, row.marker == marker else {
                    if row != nil { slot.marker = fence } else { slot = PublishSlot() }
                    self.fail(batch, HeraldError(.unavailable, "the connection to the database was lost; nothing was stored, retry shortly"))
                    return
                }
                slot.marker = marker
                self.finish(batch, plan, try await self.recoveredOutcome(plan, row))
                return
            } catch {
                failures += 1
                self.logger.debug("cannot find out a batch's outcome yet", metadata: ["error": "\(error)"])
                try? await Task.sleep(for: .milliseconds(min(1000, 50 << min(failures, 5))))
            }
        }
        slot = PublishSlot()
        self.fail(
            batch,
            HeraldError(
                .unavailable,
                "the connection to the database was lost while this publish was committing, and whether it was stored "
                    + "could not be found out: retry with the same Idempotency-Key"
            )
        )
    }

    /// A publish slot's row.
    struct SlotRow: Sendable, Equatable {
        var marker: UUID
        var lastSeqs: [String: Int64]
        var deferredGroups: Set<Int>
        var replayed: [Int: Int64]

        init(_ row: PostgresRow) throws {
            self.marker = try row.decode(UUID.self, at: 0)
            let topics = try row.decode([String]?.self, at: 1) ?? []
            let seqs = try row.decode([Int64]?.self, at: 2) ?? []
            self.lastSeqs = Dictionary(zip(topics, seqs)) { $1 }
            self.deferredGroups = Set((try row.decode([Int32]?.self, at: 3) ?? []).map(Int.init))
            let ords = try row.decode([Int32]?.self, at: 4) ?? []
            let replayedSeqs = try row.decode([Int64]?.self, at: 5) ?? []
            self.replayed = Dictionary(zip(ords.map(Int.init), replayedSeqs)) { $1 }
        }
    }

    /// The results of a committed batch whose answer was lost: each item's seq from the
    /// slot, the rest of each notification read back.
    private func recoveredOutcome(_ plan: PublishBatch, _ row: SlotRow) async throws -> PublishBatch.Outcome {
        let seqs = plan.seqs(lastSeqs: row.lastSeqs, deferredGroups: row.deferredGroups, replayed: row.replayed)
        let stored = try await NotificationStore(pool: self.pool).notifications(
            at: seqs.map { (topic: plan.items[$0.index].topic, seq: $0.seq) }
        )
        var results = [PublishResult?](repeating: nil, count: plan.items.count)
        for (index, seq, replayed) in seqs {
            let item = plan.items[index]
            guard var notification = stored[NotificationStore.Key(topic: item.topic, seq: seq)] else {
                throw PostgresError(kind: .decoding, message: "\(item.topic):\(seq) of a committed batch is not in the log")
            }
            if !replayed {
                // As a publish answers: the data as it was sent.
                notification.event = item.event
                notification.data = item.data
            }
            results[index] = PublishResult(notification: notification, replayed: replayed)
        }
        return try plan.completed(results, deferredGroups: row.deferredGroups)
    }
}
