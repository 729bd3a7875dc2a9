import HeraldPostgres

/// What the admin sees of a topic (`GET /v1/topics`, `herald topics`).
public struct TopicInfo: Sendable, Equatable {
    /// The topic's name.
    public var name: String
    /// Its last seq.
    public var lastSeq: Int64
    /// The oldest seq that can still be delivered (not expired, not purged); nil when none can.
    public var oldestSeq: Int64?
    /// How many of its notifications can still be delivered.
    public var count: Int64
    /// When it was last published to.
    public var lastPublishedAt: PostgresTimestamp?
    /// The seq through which an admin purged it, 0 if never.
    public var purgedThrough: Int64

    /// `{"name":..,"last_seq":..,"oldest_seq":..,"count":..,"last_published_at":..,"purged_through":..}`
    public func appendJSON(to bytes: inout [UInt8]) {
        bytes.append(contentsOf: #"{"name":"#.utf8)
        JSONString.appendQuoted(self.name, to: &bytes)
        bytes.append(contentsOf: #","last_seq":\#(self.lastSeq),"oldest_seq":"#.utf8)
        bytes.append(contentsOf: (self.oldestSeq.map(String.init) ?? "null").utf8)
        bytes.append(contentsOf: #","count":\#(self.count),"last_published_at":"#.utf8)
        if let time = self.lastPublishedAt {
            bytes.append(UInt8(ascii: "\""))
            time.appendRFC3339(to: &bytes)
            bytes.append(UInt8(ascii: "\""))
        } else {
            bytes.append(contentsOf: "null".utf8)
        }
        bytes.append(contentsOf: #","purged_through":\#(self.purgedThrough)}"#.utf8)
    }

    /// `{"topics":[<topic>, ...]}`
    public static func appendJSON(_ topics: [TopicInfo], to bytes: inout [UInt8]) {
        bytes.append(contentsOf: #"{"topics":["#.utf8)
        for (index, topic) in topics.enumerated() {
            if index > 0 { bytes.append(UInt8(ascii: ",")) }
            topic.appendJSON(to: &bytes)
        }
        bytes.append(contentsOf: "]}".utf8)
    }
}
