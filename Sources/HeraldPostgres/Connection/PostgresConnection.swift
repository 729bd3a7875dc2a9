/// A connection leased from a `PostgresPool`, valid inside `withConnection`'s body.
///
/// Its statements run on the connection's own thread, one after another. Before each
/// statement an idle connection is checked without blocking; one the server has ended, or
/// one of a retired generation (its server turned read-only), is replaced by a new
/// connection first.
public struct PostgresConnection: Sendable {
    let thread: ConnectionThread
    let configuration: PostgresPool.Configuration
    let generation: PoolGeneration

    /// Runs one statement and returns its rows.
    @discardableResult
    public func query(_ query: PostgresQuery) async throws -> PostgresResult {
        let (configuration, generation) = (self.configuration, self.generation)
        return try await self.thread.run { connection in
            let live = try Self.connected(&connection, configuration, generation)
            return try Self.dropIfBroken(&connection, generation) { try live.query(query) }
        }
    }

    /// Runs SQL text without parameters; it may hold several statements.
    public func simpleQuery(_ sql: String) async throws {
        let (configuration, generation) = (self.configuration, self.generation)
        try await self.thread.run { connection in
            let live = try Self.connected(&connection, configuration, generation)
            try Self.dropIfBroken(&connection, generation) { try live.simpleQuery(sql) }
        }
    }

    /// The server process's PID of the underlying connection (connecting if needed).
    public func backendPID() async throws -> Int32 {
        let (configuration, generation) = (self.configuration, self.generation)
        return try await self.thread.run { connection in
            try Self.connected(&connection, configuration, generation).backendPID
        }
    }

    /// Returns a live connection, replacing one that is missing, broken, or retired (of
    /// an older generation, and not inside a transaction, which ends on the connection it
    /// began on).
    static func connected(
        _ connection: inout LibPQConnection?,
        _ configuration: PostgresPool.Configuration,
        _ generation: PoolGeneration
    ) throws -> LibPQConnection {
        let current = generation.value
        if let existing = connection, existing.checkIdleConnectionIsAlive(),
            existing.generation == current || existing.isInTransaction
        {
            return existing
        }
        connection?.close()
        connection = nil
        let fresh = try LibPQConnection.connect(
            configuration.connectionString,
            applicationName: configuration.applicationName,
            settings: configuration.sessionSettings
        )
        fresh.generation = current
        connection = fresh
        return fresh
    }

    /// Runs `body`; when it fails because the connection broke, forgets the connection so
    /// the next statement makes a new one. When the server answered that it is read-only
    /// (`25006`), retires the connection's generation: this one and its siblings are
    /// replaced once outside a transaction.
    static func dropIfBroken<T>(_ connection: inout LibPQConnection?, _ generation: PoolGeneration, _ body: () throws -> T) throws -> T {
        do {
            return try body()
        } catch {
            if connection?.isConnected == false {
                connection?.close()
                connection = nil
            } else if let live = connection, (error as? PostgresError)?.sqlState == PostgresError.readOnlySQLTransaction {
                generation.retire(live.generation)
            }
            throw error
        }
    }
}
