import HeraldPostgres

/// Whether the database can take publishes now, as `/readyz` asks: it answers, and it is
/// writable (not a standby, not fenced with `default_transaction_read_only`).
public struct DatabaseReadiness: Sendable {
    /// What the check found.
    public enum State: Sendable, Equatable {
        /// The database answered and takes writes.
        case ready
        /// No answer within the time allowed.
        case unreachable
        /// The server answered that it is read-only; the pools' connections are retired,
        /// so their next use connects again through the connection string's hosts.
        case readOnly
    }

    private let pools: [PostgresPool]

    /// A check through the first of `pools`, which retires all of them on a read-only answer.
    public init(pools: [PostgresPool]) {
        self.pools = pools
    }

    /// Asks the server, waiting at most `limit`.
    public func check(within limit: Duration) async -> State {
        guard let pool = self.pools.first else { return .unreachable }
        let answer = await withDeadline(limit) {
            let rows = try await pool.query(.serverIsReadOnly)
            return try rows[0].decode(Bool.self, at: 0)
        }
        switch answer {
        case nil:
            return .unreachable
        case true?:
            for pool in self.pools { pool.retireConnections() }
            return .readOnly
        case false?:
            return .ready
        }
    }
}
