import HeraldPostgres
import Logging

extension Publisher {
    /// Finds out whether `batch`, whose connection was lost while it ran, committed, and
    /// answers accordingly: its results when it did, `unavailable` with nothing stored when
    /// it did not, and, only when neither can be known before the requests' deadline,
    /// `unavailable` saying the outcome is unknown.
    ///
    /// A batch reports, as notices that arrive before its result, its transaction id first
    /// thing (`herald-xid`) and the seqs it took once it took them (`herald-batch`).
    /// `pg_xact_status` on that id, asked on whatever server the pool reaches now, tells
    /// committed, aborted, or still in progress (asked again until it is not). Committed,
    /// the rows the report names are read back and must carry that transaction id (after a
    /// failover the id could name another transaction); then the requests get 201.
    func resolve(_ batch: [Pending], _ plan: PublishBatch, _ error: PostgresError) async {
        let unknown = HeraldError(
            .unavailable,
            "the connection to the database was lost while this publish was committing, and whether it was stored "
                + "could not be found out: retry with the same Idempotency-Key"
        )
        guard let transaction = error.notices.first(where: { $0.message == "herald-xid" })?.detail,
            let xid = UInt64(transaction)
        else {
            // The statement had not begun (or its first notice was lost with the connection).
            self.fail(batch, unknown)
            return
        }
        let report = error.notices.first { $0.message == "herald-batch" }?.detail.flatMap(BatchReport.init(json:))
        let deadline = batch.map(\.deadline).max() ?? .now
        var failures = 0
        while ContinuousClock.now < deadline {
            do {
                let status = try await self.pool.query(PostgresQuery("SELECT pg_xact_status($1::text::xid8)", String(xid)))
                switch try status.first?.decode(String?.self, at: 0) {
                case "committed":
                    guard let report, let outcome = try await self.recoveredOutcome(plan, report, xid: xid) else {
                        self.fail(batch, unknown)
                        return
                    }
                    self.finish(batch, plan, outcome)
                    return
                case "in progress":
                    // The old connection's server process has not noticed it is gone yet.
                    try await Task.sleep(for: .milliseconds(50))
                default:
                    // Aborted, or unknown to this server (its history does not have it).
                    self.fail(batch, HeraldError(.unavailable, "the connection to the database was lost; nothing was stored, retry shortly"))
                    return
                }
            } catch let error as PostgresError where error.sqlState == "22023" {
                // "Transaction ID is in the future": a server that never had it (a failover).
                self.fail(batch, HeraldError(.unavailable, "the connection to the database was lost; nothing was stored, retry shortly"))
                return
            } catch {
                failures += 1
                self.logger.debug("cannot find out a batch's outcome yet", metadata: ["error": "\(error)"])
                try? await Task.sleep(for: .milliseconds(min(1000, 50 << min(failures, 5))))
            }
        }
        self.fail(batch, unknown)
    }

    /// The results of a committed batch whose answer was lost: each item's seq from its
    /// report, the rest of each notification read back. Nil when a row it names is missing
    /// or was written by another transaction.
    private func recoveredOutcome(_ plan: PublishBatch, _ report: BatchReport, xid: UInt64) async throws -> PublishBatch.Outcome? {
        let seqs = plan.seqs(lastSeqs: report.lastSeqs, deferredGroups: report.deferredGroups, replayed: report.replayed)
        let keys = seqs.map { (topic: plan.items[$0.index].topic, seq: $0.seq) }
        let stored = try await NotificationStore(pool: self.pool).notifications(at: keys, writtenBy: seqs.contains { !$0.replayed } ? xid : nil)
        var results = [PublishResult?](repeating: nil, count: plan.items.count)
        for (index, seq, replayed) in seqs {
            let item = plan.items[index]
            guard let found = stored[NotificationStore.Key(topic: item.topic, seq: seq)], replayed || found.isOurs else { return nil }
            var notification = found.notification
            if !replayed {
                // As a publish answers: the data as it was sent.
                notification.event = item.event
                notification.data = item.data
            }
            results[index] = PublishResult(notification: notification, replayed: replayed)
        }
        return try plan.completed(results, deferredGroups: report.deferredGroups)
    }
}
