import HeraldPostgres

extension Publisher {
    /// Publishes `items` as one request (all or nothing) in a transaction of its own through
    /// `pool`, with the statement every group-commit batch runs, waiting for its topics'
    /// locks: what `herald publish` does without a server (no group commit needed for one).
    public static func publishDirectly(_ items: [PublishItem], pool: PostgresPool) async throws -> [PublishResult] {
        let plan = PublishBatch([items])
        let rows = try await pool.query(PostgresQuery(sql: Self.publishSQL, bindings: plan.bindings(skipLocked: false)))
        return try plan.outcome(from: rows).results.compactMap { $0 }
    }
}
