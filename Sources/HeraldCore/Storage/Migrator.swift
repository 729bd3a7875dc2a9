import HeraldPostgres
import Logging

/// Applies `Migration.all` to a database, each file exactly once.
///
/// It holds a session advisory lock for the whole run, so that several instances
/// starting at once (or `herald migrate` beside them) apply each file exactly once: the
/// others wait, then find it recorded in `herald.migrations`. Each file is applied in a
/// transaction of its own together with its record.
public struct Migrator: Sendable {
    /// The advisory lock key (`pg_advisory_lock`), the same for every Herald.
    public static let lockKey: Int64 = 0x4865_7261_6C64_4D31  // "HeraldM1"

    private let pool: PostgresPool
    private let logger: Logger

    /// Creates a migrator over `pool`.
    public init(pool: PostgresPool, logger: Logger = Logger(label: "herald.migrate")) {
        self.pool = pool
        self.logger = logger
    }

    /// Applies the migrations not applied yet; returns the names of those it applied.
    @discardableResult
    public func migrate(_ migrations: [Migration] = Migration.all) async throws -> [String] {
        try await self.pool.withConnection { connection in
            try await connection.query(PostgresQuery("SELECT pg_advisory_lock($1)", Self.lockKey))
            do {
                let applied = try await self.apply(migrations, on: connection)
                try await connection.query(PostgresQuery("SELECT pg_advisory_unlock($1)", Self.lockKey))
                return applied
            } catch {
                // The lock goes with the session if the connection broke; otherwise release it.
                _ = try? await connection.query(PostgresQuery("SELECT pg_advisory_unlock($1)", Self.lockKey))
                throw error
            }
        }
    }

    /// The migrations not applied yet.
    public func pending(_ migrations: [Migration] = Migration.all) async throws -> [Migration] {
        let applied = Set(try await self.appliedVersions())
        return migrations.filter { !applied.contains($0.version) }
    }

    /// The versions recorded as applied.
    public func appliedVersions() async throws -> [Int] {
        let exists = try await self.pool.query("SELECT to_regclass('herald.migrations') IS NOT NULL")
        guard try exists[0].decode(Bool.self, at: 0) else { return [] }
        let rows = try await self.pool.query("SELECT version FROM herald.migrations ORDER BY version")
        return try rows.map { try $0.decode(Int.self, at: 0) }
    }

    private func apply(_ migrations: [Migration], on connection: PostgresConnection) async throws -> [String] {
        try await connection.simpleQuery(
            """
            CREATE SCHEMA IF NOT EXISTS herald;
            CREATE TABLE IF NOT EXISTS herald.migrations (
                version    integer PRIMARY KEY,
                name       text NOT NULL,
                applied_at timestamptz NOT NULL DEFAULT now()
            );
            """
        )
        let rows = try await connection.query("SELECT version FROM herald.migrations")
        let done = Set(try rows.map { try $0.decode(Int.self, at: 0) })
        var applied: [String] = []
        for migration in migrations.sorted(by: { $0.version < $1.version }) where !done.contains(migration.version) {
            self.logger.info("applying migration", metadata: ["migration": "\(migration.name)"])
            try await connection.query("BEGIN")
            do {
                try await connection.simpleQuery(migration.sql)
                try await connection.query(
                    PostgresQuery("INSERT INTO herald.migrations (version, name) VALUES ($1, $2)", migration.version, migration.name)
                )
                try await connection.query("COMMIT")
            } catch {
                _ = try? await connection.query("ROLLBACK")
                throw error
            }
            applied.append(migration.name)
        }
        return applied
    }
}
