/// A notification sent with `NOTIFY` (or `pg_notify`) on a channel the listener listens on.
public struct PostgresNotification: Sendable, Equatable {
    /// The channel it was sent on.
    public var channel: String
    /// Its payload (at most 8000 bytes).
    public var payload: String
    /// The PID of the server process that sent it.
    public var pid: Int32

    /// Creates a notification.
    public init(channel: String, payload: String, pid: Int32) {
        self.channel = channel
        self.payload = payload
        self.pid = pid
    }
}
