import HeraldCore
import HeraldPostgres
import Logging

/// The database connection of one admin command: `--database-url`, else the private
/// PostgreSQL of `--data-dir` (started for the command when no server runs, and stopped
/// after it), with the schema checked before anything runs.
struct AdminSession {
    /// Its connection string.
    let url: String
    /// Its connections.
    let pool: PostgresPool
    /// The admin's operations on it.
    let admin: Admin
    let logger: Logger
    private let started: EmbeddedPostgres?

    /// Runs `body` with a session, then closes it (and stops a private PostgreSQL it started).
    static func run<Result>(
        _ database: DatabaseOptions, _ body: (AdminSession) async throws -> Result
    ) async throws -> Result {
        let logger = LogSetup.bootstrap(level: Environment.value("log-level") ?? "warning")
        if database.givenURL == nil, !EmbeddedPostgres.exists(in: database.dataDirectory) {
            throw ConfigurationError(
                message: "no Herald database in \(database.dataDirectory): give --database-url (or HERALD_DATABASE_URL), "
                    + "or --data-dir where `herald serve` keeps its data"
            )
        }
        let (url, started) = try database.connect(logger: logger)
        // Bounded like the server's reads: a statement that waits on a lock or runs away ends
        // with an error rather than holding the command (a purge deletes in short statements).
        let pool = PostgresPool(
            configuration: .init(
                connectionString: url, maximumConnections: 2, applicationName: "herald-admin",
                sessionSettings: [("statement_timeout", "60s"), ("lock_timeout", "10s")]
            )
        )
        let store = NotificationStore(pool: pool)
        let session = AdminSession(
            url: url, pool: pool, admin: Admin(store: store, cursors: CursorStore(pool: pool, logger: logger)), logger: logger,
            started: started
        )
        defer {
            pool.shutdown()
            try? started?.stop()
        }
        try await session.check()
        do {
            return try await body(session)
        } catch let error as HeraldError {
            throw ConfigurationError(message: Self.advice(for: error))
        }
    }

    /// What a refusal of the admin's operations means on the command line, and what to do.
    static func advice(for error: HeraldError) -> String {
        switch error.kind {
        case .notFound: "\(error.message) (`herald topics` lists the topics)"
        case .invalidCursor, .invalidParameter: "\(error.message) (`herald topics` shows each topic's last seq)"
        case .unavailable: "\(error.message); check that PostgreSQL is running, then try again"
        // No server log here: what went wrong is said at once.
        case .internalError: error.detail ?? error.message
        default: error.message
        }
    }

    /// Checks that the database answers and has Herald's schema, saying what to do if not.
    private func check() async throws {
        let pending: [Migration]
        do {
            pending = try await Migrator(pool: self.pool, logger: self.logger).pending()
        } catch let error as PostgresError {
            throw ConfigurationError(
                message: "cannot use the database: \(error.message). Check --database-url (or HERALD_DATABASE_URL) "
                    + "and that PostgreSQL is running and accepts connections"
            )
        }
        guard pending.isEmpty else {
            throw ConfigurationError(
                message: "the database schema is not up to date (missing \(pending.map(\.name).joined(separator: ", "))): "
                    + "run `herald migrate` first"
            )
        }
    }
}
