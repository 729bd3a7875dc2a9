import HeraldPostgres

extension Publisher {
    /// Publishes `items` as one request (all or nothing) in a transaction of its own through
    /// `pool`, with the statement every group-commit batch runs, waiting for its topics'
    /// locks: what `herald publish` does without a server (no group commit needed for one).
    /// Like the publisher, it creates the log's partitions around today when there is none
    /// for now (a database no server has run on for a week), and tries once more.
    public static func publishDirectly(_ items: [PublishItem], pool: PostgresPool) async throws -> [PublishResult] {
        let plan = PublishBatch([items])
        let statement = plan.statement(skipLocked: false)
        let rows: PostgresResult
        do {
            rows = try await pool.query(statement.query)
        } catch let error as PostgresError where error.isMissingPartition {
            _ = try await PartitionMaintenance.ensurePartitions(pool, days: PartitionMaintenance.daysAhead + 2)
            rows = try await pool.query(statement.query)
        }
        return try plan.outcome(of: statement, from: rows).results.compactMap { $0 }
    }
}

extension PostgresError {
    /// A row of the log found no partition for its day.
    var isMissingPartition: Bool {
        self.sqlState == "23514" && self.message.contains("no partition")
    }
}
