/// What a poll or long-poll asks for.
public struct PollRequest: Sendable {
    /// The topics (1 to `PollRequest.maximumTopics`).
    public var topics: [String]
    /// Explicit start positions; topics missing here start from the stored cursor or "now".
    public var after: Cursor
    /// The most notifications in one answer (1 to 1000).
    public var limit: Int
    /// How long to hold the request when nothing is available (0 to 60 s).
    public var wait: Duration
    /// The client id, whose stored cursors start topics without an explicit position.
    public var client: String?

    /// The most topics one subscription may name.
    public static let maximumTopics = 100

    /// Creates a request, checking every field against the wire contract.
    public init(
        topics: [String],
        after: Cursor = Cursor(),
        limit: Int = 100,
        wait: Duration = .zero,
        client: String? = nil
    ) throws(HeraldError) {
        try Self.validate(topics: topics)
        guard (1...1000).contains(limit) else { throw HeraldError(.invalidParameter, "limit must be from 1 to 1000") }
        guard wait >= .zero, wait <= .seconds(60) else { throw HeraldError(.invalidParameter, "wait must be from 0 to 60 seconds") }
        for position in after.positions where !topics.contains(position.topic) {
            throw HeraldError(.invalidCursor, "the cursor names '\(position.topic)', which is not among the topics")
        }
        self.topics = topics
        self.after = after
        self.limit = limit
        self.wait = wait
        self.client = client
    }

    /// Checks a subscription's topic list: 1 to 100 valid, distinct names.
    public static func validate(topics: [String]) throws(HeraldError) {
        guard !topics.isEmpty else { throw HeraldError(.invalidTopic, "name at least one topic (topics=a,b)") }
        guard topics.count <= Self.maximumTopics else {
            throw HeraldError(.invalidTopic, "at most \(Self.maximumTopics) topics per subscription")
        }
        for topic in topics where !NameRules.isValidTopic(topic) { throw .invalidTopic(topic) }
        guard Set(topics).count == topics.count else { throw HeraldError(.invalidTopic, "a topic is named twice") }
    }
}
