import HeraldPostgres
import Logging
import ServiceLifecycle

/// Keeps the notification log's daily partitions: creates them ahead, so a publish
/// never waits on DDL, and drops those older than the retention period.
///
/// Runs at start and then every `interval`; the SQL functions take an advisory lock, so
/// several instances doing this at once do not collide.
public struct PartitionMaintenance: Service {
    /// How long notifications are kept.
    public var retention: Duration
    /// How often maintenance runs.
    public var interval: Duration
    let pool: PostgresPool
    let logger: Logger

    /// Days of partitions kept ready ahead of today.
    static let daysAhead = 7

    /// Creates the task.
    public init(pool: PostgresPool, retention: Duration, interval: Duration = .seconds(3600), logger: Logger = Logger(label: "herald.maintenance")) {
        self.pool = pool
        self.retention = retention
        self.interval = interval
        self.logger = logger
    }

    /// Creates the partitions from yesterday to `daysAhead` days ahead and drops expired
    /// ones; returns (created, dropped).
    @discardableResult
    public func runOnce() async throws -> (created: Int, dropped: Int) {
        let created = try await self.pool.query(
            PostgresQuery("SELECT herald.ensure_partitions((now() AT TIME ZONE 'UTC')::date - 1, $1)", Self.daysAhead + 2)
        )
        let seconds = self.retention.components.seconds
        let dropped = try await self.pool.query(
            PostgresQuery("SELECT herald.drop_partitions(now() - make_interval(secs => $1))", seconds)
        )
        let result = (try created[0].decode(Int.self, at: 0), try dropped[0].decode(Int.self, at: 0))
        if result.0 > 0 || result.1 > 0 {
            self.logger.info("partitions maintained", metadata: ["created": "\(result.0)", "dropped": "\(result.1)"])
        }
        return result
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
