/// Where an admin replay starts a client on a topic.
public enum ReplayStart: Sendable, Equatable {
    /// A point in time.
    public enum Since: Sendable, Equatable {
        /// This long before now (the database's clock).
        case ago(Duration)
        /// An RFC 3339 time, as PostgreSQL reads `timestamptz` (`2026-11-24T10:00:00Z`).
        case time(String)
    }

    /// `seq` is the next notification delivered (the cursor is set to `seq - 1`).
    case fromSeq(Int64)
    /// The first notification created at or after a time is the next one delivered.
    case since(Since)
}
