/// What a purge did (`DELETE /v1/topics/{topic}/notifications`, `herald prune --topic`).
public struct PurgeResult: Sendable, Equatable {
    /// The topic.
    public var topic: String
    /// The seq through which it is purged now (a purge never moves this back).
    public var purgedThrough: Int64
    /// The rows deleted by this purge.
    public var deleted: Int64

    /// `{"topic":..,"purged_through":..,"deleted":..}`
    public func appendJSON(to bytes: inout [UInt8]) {
        bytes.append(contentsOf: #"{"topic":"#.utf8)
        JSONString.appendQuoted(self.topic, to: &bytes)
        bytes.append(contentsOf: #","purged_through":\#(self.purgedThrough),"deleted":\#(self.deleted)}"#.utf8)
    }
}
