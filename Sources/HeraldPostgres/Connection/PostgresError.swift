/// An error from PostgreSQL or from the way to it.
///
/// Errors the server reports carry its SQLSTATE and message (and detail and hint when it
/// sends them), so callers can act on the condition (`23505` unique violation, ...) rather
/// than on the text.
public struct PostgresError: Error, Sendable, CustomStringConvertible {
    /// What went wrong, broadly.
    public enum Kind: Sendable, Equatable {
        /// The connection could not be made or was lost; the server may be down.
        case connection
        /// The server answered the statement with an error (see `sqlState`).
        case server
        /// A value in a result could not be decoded into the requested Swift type.
        case decoding
        /// The pool or listener was shut down.
        case shutdown
        /// No connection could be had in time: the pool's waiters were too many, or one
        /// waited longer than the pool's lease time-out.
        case overloaded
    }

    /// What went wrong, broadly.
    public var kind: Kind
    /// The five-character SQLSTATE the server sent, e.g. `23505`.
    public var sqlState: String?
    /// The primary message (the server's, when it sent one).
    public var message: String
    /// The server's optional detail line.
    public var detail: String?
    /// The server's optional hint line.
    public var hint: String?
    /// Whether the connection was lost after the statement was sent: it may have run,
    /// and committed, on the server.
    public var outcomeUnknown = false
    /// The server process the statement was sent to, when its outcome is unknown: once
    /// that process is gone (or idle), the statement has committed or never will.
    public var backend: PostgresBackend?

    /// Creates an error.
    public init(kind: Kind, sqlState: String? = nil, message: String, detail: String? = nil, hint: String? = nil) {
        self.kind = kind
        self.sqlState = sqlState
        self.message = message
        self.detail = detail
        self.hint = hint
    }

    /// Whether the statement's failure says nothing about the data: the database was
    /// unreachable, restarting or shutting down, so trying again later may succeed.
    public var isUnavailable: Bool {
        switch self.kind {
        case .connection, .shutdown, .overloaded:
            return true
        case .decoding:
            return false
        case .server:
            // 08: connection exception, 57P0x: operator intervention (admin shutdown,
            // crash shutdown, cannot connect now), 53: insufficient resources, 25006: the
            // server is read-only (a standby, or a fenced primary): the writable one is
            // elsewhere for now.
            guard let state = self.sqlState else { return false }
            return state.hasPrefix("08") || state.hasPrefix("57P") || state.hasPrefix("53")
                || state == Self.readOnlySQLTransaction
        }
    }

    /// Whether the statement failed for a passing reason and changed nothing: the database
    /// unavailable, or a time limit (`statement_timeout`, `lock_timeout`), a serialization
    /// failure or a deadlock ended it. A read may be tried again later.
    public var isTransient: Bool {
        guard !self.isUnavailable else { return true }
        guard self.kind == .server, let state = self.sqlState else { return false }
        return ["57014", "55P03", "40001", "40P01"].contains(state)
    }

    public var description: String {
        var text = "PostgreSQL"
        if let sqlState { text += " \(sqlState)" }
        text += ": \(self.message)"
        if let detail { text += " (\(detail))" }
        return text
    }
}

extension PostgresError {
    /// SQLSTATE `23505`.
    public static let uniqueViolation = "23505"
    /// SQLSTATE `40P01`.
    public static let deadlockDetected = "40P01"
    /// SQLSTATE `40001`.
    public static let serializationFailure = "40001"
    /// SQLSTATE `25006`: a write on a read-only server or transaction.
    public static let readOnlySQLTransaction = "25006"
}
