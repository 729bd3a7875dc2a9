import HeraldCore
import Hummingbird
import HummingbirdCore

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
        try self.init(request.uri, topicsRequired: topicsRequired)
    }

    /// Reads and checks the parameters of a request URI.
    init(_ uri: URI, topicsRequired: Bool = true) throws(HeraldError) {
        let query = uri.queryParameters
        func value(_ name: String) -> String? { query[name[...]].map(String.init) }
        let topicList = value("topics") ?? ""
        self.topics = topicList.split(separator: ",", omittingEmptySubsequences: false).map(String.init)
        if topicList.isEmpty { self.topics = [] }
        if topicsRequired || !self.topics.isEmpty { try PollRequest.validate(topics: self.topics) }
        if let after = value("after"), !after.isEmpty {
            self.after = try Cursor.parse(after, singleTopic: self.topics.count == 1 ? self.topics[0] : nil)
            for position in self.after.positions where !self.topics.contains(position.topic) {
                throw HeraldError(.invalidCursor, "after names '\(position.topic)', which is not among the topics")
            }
        } else {
            self.after = Cursor()
        }
        if let client = value("client") {
            guard NameRules.isValidClientID(client) else {
                throw HeraldError(.invalidClient, "client must match \(NameRules.clientPattern)")
            }
            self.client = client
        }
    }
}
