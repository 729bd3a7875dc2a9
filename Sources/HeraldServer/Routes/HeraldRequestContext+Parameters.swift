import HeraldCore
import Hummingbird

extension HeraldRequestContext {
    /// The `{topic}` path parameter, checked.
    func topicParameter() throws(HeraldError) -> String {
        let topic = (self.parameters.get("topic") ?? "").pathSegmentDecoded
        guard NameRules.isValidTopic(topic) else {
            throw HeraldError(.invalidTopic, "topic must match \(NameRules.topicPattern), got '\(topic.prefix(140))'")
        }
        return topic
    }

    /// The `{client}` path parameter, checked.
    func clientParameter() throws(HeraldError) -> String {
        let client = (self.parameters.get("client") ?? "").pathSegmentDecoded
        guard NameRules.isValidClientID(client) else {
            throw HeraldError(.invalidClient, "client must match \(NameRules.clientPattern)")
        }
        return client
    }
}
