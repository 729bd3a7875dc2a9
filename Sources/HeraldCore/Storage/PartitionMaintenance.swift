import HeraldPostgres
import Logging
import ServiceLifecycle

/// Keeps the notification log's daily partitions: creates them ahead and drops those older
/// than the retention period, without ever making a publish wait behind its DDL (see
/// `migrations/0004_partitions.sql`).
///
/// - A partition is created as a table with its index, then attached, which takes a lock
///   that inserts and reads do not wait for.
/// - An expired partition is detached CONCURRENTLY (the same weak lock; it waits for the
///   transactions that may still read it, blocking nobody), then dropped: a table no
///   query of the log reaches any more. A detach interrupted on the way (a restart, a
///   time limit) is finished by the next run.
///
/// Runs at start and then every `interval`; creation takes an advisory lock, so several
/// instances doing this at once do not collide.
public struct PartitionMaintenance: Service {
    /// What a run did.
    public struct Outcome: Sendable, Equatable {
        /// Partitions created.
        public var created: Int
        /// Partitions dropped.
        public var dropped: Int
    }

    /// How long notifications are kept.
    public var retention: Duration
    /// How often maintenance runs.
    public var interval: Duration
    let pool: PostgresPool
    let logger: Logger

    /// Days of partitions kept ready ahead of today.
    public static let daysAhead = 7

    /// Creates the task.
    public init(pool: PostgresPool, retention: Duration, interval: Duration = .seconds(3600), logger: Logger = Logger(label: "herald.maintenance")) {
        self.pool = pool
        self.retention = retention
        self.interval = interval
        self.logger = logger
    }

    /// Creates the partitions from yesterday to `daysAhead` days ahead, drops expired ones
    /// and prunes expired idempotency keys.
    @discardableResult
    public func runOnce() async throws -> Outcome {
        let created = try await Self.ensurePartitions(self.pool, days: Self.daysAhead + 2)
        HeraldMetrics.partitions(created: created)
        let seconds = self.retention.components.seconds
        let expired = try await self.pool.query(
            PostgresQuery("SELECT name, step FROM herald.expired_partitions(now() - make_interval(secs => $1))", seconds)
        )
        var dropped = 0
        for row in expired {
            let name = try row.decode(String.self, at: 0)
            let step = try row.decode(String.self, at: 1)
            // The name came from the catalog filtered by this shape; checked again, as it
            // goes into DDL text.
            guard Self.isPartitionName(name) else { continue }
            do {
                try await self.pool.withConnection { connection in
                    // Each its own statement, outside a transaction (CONCURRENTLY requires it).
                    switch step {
                    case "detach": try await connection.simpleQuery("ALTER TABLE herald.notifications DETACH PARTITION herald.\(name) CONCURRENTLY")
                    case "finalize": try await connection.simpleQuery("ALTER TABLE herald.notifications DETACH PARTITION herald.\(name) FINALIZE")
                    default: break
                    }
                    try await connection.simpleQuery("DROP TABLE herald.\(name)")
                }
                dropped += 1
                HeraldMetrics.partitions(dropped: 1)
            } catch {
                // Someone still reads it (an old transaction): the next run finishes the job.
                self.logger.warning("cannot drop an expired partition yet; will retry", metadata: ["partition": "\(name)", "error": "\(error)"])
            }
        }
        // A day's expired keys may take longer to delete than the pool's statement_timeout
        // allows a read: this one statement runs without it (one implicit transaction).
        try await self.pool.withConnection { connection in
            try await connection.simpleQuery(
                "SET LOCAL statement_timeout = 0; SELECT herald.prune_before(now() - make_interval(secs => \(seconds)))"
            )
        }
        let outcome = Outcome(created: created, dropped: dropped)
        if created > 0 || dropped > 0 {
            self.logger.info("partitions maintained", metadata: ["created": "\(created)", "dropped": "\(dropped)"])
        }
        return outcome
    }

    /// Creates the daily partitions from yesterday for `days` days that do not exist yet;
    /// returns how many it created.
    public static func ensurePartitions(_ pool: PostgresPool, days: Int) async throws -> Int {
        let rows = try await pool.query(
            PostgresQuery("SELECT herald.ensure_partitions((now() AT TIME ZONE 'UTC')::date - 1, $1)", days)
        )
        return try rows[0].decode(Int.self, at: 0)
    }

    /// `notifications_YYYYMMDD`.
    static func isPartitionName(_ name: String) -> Bool {
        let utf8 = Array(name.utf8)
        let prefix = Array("notifications_".utf8)
        return utf8.count == prefix.count + 8 && utf8.starts(with: prefix)
            && utf8.dropFirst(prefix.count).allSatisfy { $0 >= UInt8(ascii: "0") && $0 <= UInt8(ascii: "9") }
    }

    /// Runs maintenance every `interval` until graceful shutdown.
    public func run() async throws {
        while !Task.isShuttingDownGracefully && !Task.isCancelled {
            do {
                try await self.runOnce()
            } catch {
                self.logger.warning("partition maintenance failed; will retry", metadata: ["error": "\(error)"])
            }
            let interval = self.interval
            try? await cancelWhenGracefulShutdown { try await Task.sleep(for: interval) }
        }
    }
}
