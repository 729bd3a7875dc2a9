import HeraldPostgres

/// One stored cursor of a client, as the admin sees it.
public struct CursorEntry: Sendable, Equatable {
    /// The topic.
    public var topic: String
    /// The position: everything up to it is delivered.
    public var seq: Int64
    /// Its version: how many admin sets it has had.
    public var version: Int64
    /// Whether an admin set waits for the client's next start (the one-shot override).
    public var replayPending: Bool
    /// When it was last written.
    public var updatedAt: PostgresTimestamp
}
