/// The server process behind a connection, as `pg_stat_activity` names it: its PID and
/// when it started (a PID alone may be reused by a later process).
///
/// A statement whose connection was lost carries it (`PostgresError.backend`), so the
/// caller can ask on another connection whether that process is gone, or end it, before
/// it looks for what the statement did.
public struct PostgresBackend: Sendable, Equatable {
    /// `pg_stat_activity.pid`.
    public var pid: Int32
    /// `pg_stat_activity.backend_start`, as the server prints it (exact to the microsecond).
    public var startedAt: String

    /// Creates a backend identity.
    public init(pid: Int32, startedAt: String) {
        self.pid = pid
        self.startedAt = startedAt
    }
}
