/// One notification to publish, already validated: it can join any group-commit batch
/// without risk of failing the others.
public struct PublishItem: Sendable, Equatable {
    /// The topic (valid by `NameRules.isValidTopic`).
    public var topic: String
    /// The event name (valid by `NameRules.isValidEvent`).
    public var event: String
    /// The data as JSON text (checked by `JSONScanner`; PostgreSQL's `json` checks it again), stored and delivered as it is.
    public var data: String
    /// Seconds until it expires, if any (1 ... Int32.max).
    public var ttl: Int32?
    /// The idempotency key, if any (valid by `NameRules.isValidIdempotencyKey`).
    public var idempotencyKey: String?

    /// Creates an item whose fields the caller has already checked.
    init(checkedTopic topic: String, event: String, data: String, ttl: Int32?, idempotencyKey: String?) {
        self.topic = topic
        self.event = event
        self.data = data
        self.ttl = ttl
        self.idempotencyKey = idempotencyKey
    }
}
