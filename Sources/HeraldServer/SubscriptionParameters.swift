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

    init(_ request: Request) throws(HeraldError) {
        let topicList = request.query("topics") ?? ""
        self.topics = topicList.split(separator: ",", omittingEmptySubsequences: false).map(String.init)
        if topicList.isEmpty { self.topics = [] }
        try PollRequest.validate(topics: self.topics)
        if let after = request.query("after"), !after.isEmpty {
            self.after = try Cursor.parse(after, singleTopic: self.topics.count == 1 ? self.topics[0] : nil)
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
