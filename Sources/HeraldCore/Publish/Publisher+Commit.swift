import HeraldPostgres
import Logging
import Metrics
import Synchronization

extension Publisher {
    /// SQLSTATEs of a batch that failed for a passing reason, having stored nothing: a
    /// statement time-out, a deadlock, a serialization failure. (A lock time-out is one
    /// too, but first finds out which topics are held.)
    static let passingFailures: Set<String> = ["57014", "40P01", "40001"]

    /// Commits one batch and answers its requests (or defers them, or retries them). A
    /// `probing` batch (a held topic's requests) takes no lock it would wait for.
    func commit(_ batch: [Pending], probing: Bool = false) async {
        let plan = PublishBatch(batch.map(\.items))
        let sentAt = ContinuousClock.now
        do {
            let unknown = self.knownTopics.withLock { known in plan.topics.filter { !known.contains($0) } }
            let held = try await self.createTopics(unknown)
            guard held.isEmpty else {
                // Another transaction is creating those and has not committed: they are
                // held; the rest of the batch goes on without them.
                self.deferred(batch.filter { !held.isDisjoint(with: $0.topics) }, heldTopics: held)
                self.retry(batch.filter { held.isDisjoint(with: $0.topics) })
                return
            }
            let flight = self.inFlight.withLock { $0.begin(batch) }
            defer { self.inFlight.withLock { $0.end(flight) } }
            let statement = plan.statement(skipLocked: probing)
            let rows = try await self.pool.query(statement.query)
            self.transactionItems.record(plan.sent.count)
            self.finish(batch, plan, try plan.outcome(of: statement, from: rows))
        } catch let error as PostgresError {
            await self.failed(batch, plan, error, sentAt: sentAt)
        } catch {
            self.fail(batch, .internalError("publish failed: \(error)"))
        }
    }

    /// Answers the requests of a committed batch, and sets the deferred ones aside.
    func finish(_ batch: [Pending], _ plan: PublishBatch, _ outcome: PublishBatch.Outcome) {
        var offset = 0
        var waiting: [Pending] = []
        var published: [Notification] = []
        var answers: [(Pending, [PublishResult])] = []
        for (request, pending) in batch.enumerated() {
            defer { offset += pending.items.count }
            if outcome.deferred.contains(request) {
                waiting.append(pending)
                continue
            }
            let results = outcome.results[offset..<offset + pending.items.count].compactMap { $0 }
            for result in results where !result.replayed { published.append(result.notification) }
            answers.append((pending, results))
        }
        // The hub gets the batch before its requests are answered: a producer's next
        // publish, which the other committer may commit at once, cannot reach it first
        // (the hub takes only a topic's next seqs; anything else waits for a NOTIFY).
        self.publishedCounter.increment(by: published.count)
        if let onCommit = self.onCommit, !published.isEmpty { onCommit(published) }
        for (pending, results) in answers { pending.answer(.success(results)) }
        let held = waiting.isEmpty ? [] : outcome.heldTopics(of: plan)
        if !waiting.isEmpty {
            // A probe found those topics still held by another transaction (or missing).
            self.knownTopics.withLock { $0.subtract(held) }
            self.deferred(waiting, heldTopics: held)
        }
        self.committed(topics: plan.topics.subtracting(held))
    }

    /// Decides what a failed batch's requests get.
    private func failed(_ batch: [Pending], _ plan: PublishBatch, _ error: PostgresError, sentAt: ContinuousClock.Instant) async {
        if error.outcomeUnknown {
            // The statement may have committed before the connection went: find out.
            self.logger.warning("connection lost while a batch committed; finding out whether it did", metadata: ["error": "\(error)"])
            await self.resolve(batch, plan, error, sentAt: sentAt)
        } else if error.kind == .decoding {
            // The statement ran to its end (and committed) but its rows could not be read:
            // retrying would publish again; look up what it stored instead.
            self.logger.error("a committed batch's answer could not be read; looking it up", metadata: ["error": "\(error)"])
            await self.resolve(batch, plan, error, sentAt: sentAt)
        } else if error.isUnavailable {
            self.fail(batch, HeraldError(.unavailable, "the database is unavailable; nothing was stored, retry shortly"))
        } else if error.sqlState == "55P03" {
            // A lock wait ran out: set aside the topics locked right now, go on with the rest.
            await self.setAsideHeldTopics(batch, plan)
        } else if let state = error.sqlState, Self.passingFailures.contains(state) {
            self.logger.debug("batch not committed for a passing reason; retrying", metadata: ["error": "\(error)"])
            self.retry(batch)
        } else if error.isMissingPartition {
            // A day without a partition (maintenance has not run for a week, or the clock jumped).
            self.logger.warning("no partition for a notification; creating partitions", metadata: ["error": "\(error)"])
            do {
                _ = try await PartitionMaintenance.ensurePartitions(self.pool, days: PartitionMaintenance.daysAhead + 2)
                self.retry(batch)
            } catch {
                self.fail(batch, .internalError("no partition for a notification, and none could be created: \(error)"))
            }
        } else if batch.count == 1 {
            self.fail(batch, .internalError("publish failed: \(error)"))
        } else {
            // Not the database's availability: find the request at fault by retrying alone.
            self.logger.warning("group commit failed, retrying its requests one by one", metadata: ["error": "\(error)"])
            for pending in batch { await self.commit([pending]) }
        }
    }

    /// After a lock time-out: the batch's topics that another transaction holds now (a
    /// `SKIP LOCKED` look, whose locks go with its statement) become held, their requests
    /// wait aside; the other requests are retried at once.
    private func setAsideHeldTopics(_ batch: [Pending], _ plan: PublishBatch) async {
        do {
            let topics = plan.topics.sorted()
            let rows = try await self.pool.query(
                PostgresQuery("SELECT name FROM herald.topics WHERE name = ANY($1::text[]) ORDER BY name FOR UPDATE SKIP LOCKED", topics)
            )
            let free = Set(try rows.map { try $0.decode(String.self, at: 0) })
            let held = plan.topics.subtracting(free)
            self.logger.debug("topics held by another transaction", metadata: ["topics": "\(held.sorted())"])
            self.deferred(batch.filter { !held.isDisjoint(with: $0.topics) }, heldTopics: held)
            self.retry(batch.filter { held.isDisjoint(with: $0.topics) })
        } catch {
            self.retry(batch)
        }
    }

    func fail(_ batch: [Pending], _ error: HeraldError) {
        for pending in batch { pending.answer(.failure(error)) }
    }

    /// Creates the rows of `unknown` topics (not known to exist) in a transaction of their
    /// own, waiting at most 20 ms for a lock: a topic being created by another transaction
    /// that has not committed makes the insert wait, and that must not hold the batch's
    /// other topics. Returns the topics found held that way (when some are, each topic is
    /// tried alone, to tell which).
    private func createTopics(_ unknown: Set<String>) async throws -> Set<String> {
        guard !unknown.isEmpty else { return [] }
        do {
            try await self.insertTopics(unknown.sorted())
            return []
        } catch let error as PostgresError where error.sqlState == "55P03" {
            var held: Set<String> = []
            for topic in unknown.sorted() {
                do {
                    try await self.insertTopics([topic])
                } catch let error as PostgresError where error.sqlState == "55P03" {
                    held.insert(topic)
                }
            }
            return held
        }
    }

    private func insertTopics(_ topics: [String]) async throws {
        try await self.pool.withTransaction { connection in
            try await connection.query("SET LOCAL lock_timeout = '20ms'")
            try await connection.query(
                PostgresQuery("INSERT INTO herald.topics (name) SELECT t FROM unnest($1::text[]) AS t ORDER BY 1 ON CONFLICT DO NOTHING", topics)
            )
        }
        self.knownTopics.withLock { known in
            // Bounded: forgetting a topic only costs one more of these.
            if known.count + topics.count > 100_000 { known.removeAll() }
            known.formUnion(topics)
        }
    }
}
