/// The outcome of publishing one item.
public struct PublishResult: Sendable, Equatable {
    /// The committed notification (for a replay, the original one).
    public var notification: Notification
    /// Whether the item repeated an idempotency key and published nothing new.
    public var replayed: Bool

    /// Creates a result.
    public init(notification: Notification, replayed: Bool) {
        self.notification = notification
        self.replayed = replayed
    }
}
