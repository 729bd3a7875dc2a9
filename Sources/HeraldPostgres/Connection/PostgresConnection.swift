/// A connection leased from a `PostgresPool`, valid inside `withConnection`'s body.
///
/// Its statements run on the connection's own thread, one after another. Before each
/// statement an idle connection is checked without blocking; one the server has ended is
/// replaced by a new connection first.
public struct PostgresConnection: Sendable {
    let thread: ConnectionThread
    let configuration: PostgresPool.Configuration

    /// Runs one statement and returns its rows.
    @discardableResult
    public func query(_ query: PostgresQuery) async throws -> PostgresResult {
        let configuration = self.configuration
        return try await self.thread.run { connection in
            let live = try Self.connected(&connection, configuration)
            return try Self.dropIfBroken(&connection) { try live.query(query) }
        }
    }

    /// Runs SQL text without parameters; it may hold several statements.
    public func simpleQuery(_ sql: String) async throws {
        let configuration = self.configuration
        try await self.thread.run { connection in
            let live = try Self.connected(&connection, configuration)
            try Self.dropIfBroken(&connection) { try live.simpleQuery(sql) }
        }
    }

    /// The server process's PID of the underlying connection (connecting if needed).
    public func backendPID() async throws -> Int32 {
        let configuration = self.configuration
        return try await self.thread.run { connection in
            try Self.connected(&connection, configuration).backendPID
        }
    }

    /// Returns a live connection, replacing one that is missing or broken.
    static func connected(
        _ connection: inout LibPQConnection?,
        _ configuration: PostgresPool.Configuration
    ) throws -> LibPQConnection {
        if let existing = connection, existing.checkIdleConnectionIsAlive() {
            return existing
        }
        connection?.close()
        connection = nil
        let fresh = try LibPQConnection.connect(
            configuration.connectionString,
            applicationName: configuration.applicationName,
            settings: configuration.sessionSettings
        )
        connection = fresh
        return fresh
    }

    /// Runs `body`; when it fails because the connection broke, forgets the connection so
    /// the next statement makes a new one.
    static func dropIfBroken<T>(_ connection: inout LibPQConnection?, _ body: () throws -> T) throws -> T {
        do {
            return try body()
        } catch {
            if connection?.isConnected == false {
                connection?.close()
                connection = nil
            }
            throw error
        }
    }
}
