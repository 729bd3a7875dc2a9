import HeraldPostgres

import struct Foundation.UUID

/// One committed notification: the object every transport carries.
public struct Notification: Sendable, Equatable {
    /// Its topic.
    public var topic: String
    /// Its seq in the topic: gap-free and increasing in commit order.
    public var seq: Int64
    /// Its globally unique id.
    public var id: UUID
    /// Its event name (`message` unless the publisher named one).
    public var event: String
    /// Its data, as JSON text.
    public var data: String
    /// When it was committed (non-decreasing with seq within a topic).
    public var createdAt: PostgresTimestamp
    /// When it stops being delivered, if it was published with a ttl.
    public var expiresAt: PostgresTimestamp?

    /// Creates a notification.
    public init(
        topic: String,
        seq: Int64,
        id: UUID,
        event: String,
        data: String,
        createdAt: PostgresTimestamp,
        expiresAt: PostgresTimestamp? = nil
    ) {
        self.topic = topic
        self.seq = seq
        self.id = id
        self.event = event
        self.data = data
        self.createdAt = createdAt
        self.expiresAt = expiresAt
    }
}
