import HeraldCore
import Hummingbird

/// The query parameters every subscribe endpoint takes: `topics`, `after`, `client`.
struct SubscriptionParameters {
    /// The topics, in the order given.
    var topics: [String]
    /// The explicit start positions.
    var after: Cursor
    /// The client id, when one was given.
    var client: String?

    /// Reads and checks the parameters; WebSocket may name no topics (it can subscribe later).
    init(_ request: Request, topicsRequired: Bool = true) throws(HeraldError) {
        let topicList = request.query("topics") ?? ""
        self.topics = topicList.split(separator: ",", omittingEmptySubsequences: false).map(String.init)
        if topicList.isEmpty { self.topics = [] }
        if topicsRequired || !self.topics.isEmpty { try PollRequest.validate(topics: self.topics) }
        if let after = request.query("after"), !after.isEmpty {
            self.after = try Cursor.parse(after, singleTopic: self.topics.count == 1 ? self.topics[0] : nil)
            for position in self.after.positions where !self.topics.contains(position.topic) {
                throw HeraldError(.invalidCursor, "after names '\(position.topic)', which is not among the topics")
            }
        } else {
            self.after = Cursor()
        }
        if let client = request.query("client") {
            guard NameRules.isValidClientID(client) else {
                throw HeraldError(.invalidClient, "client must match \(NameRules.clientPattern)")
            }
            self.client = client
        }
    }
}
