/// A notice that a subscriber's position moved forward over notifications it will not
/// get (or back, for a replay), sent before the notifications that follow it.
public struct Reset: Sendable, Equatable {
    /// Why the position moved.
    public enum Reason: String, Sendable {
        /// The skipped notifications expired (their ttl, or the retention period).
        case expired
        /// An admin purged them.
        case purged
        /// An admin replay moved the cursor back.
        case replay
    }

    /// The topic.
    public var topic: String
    /// The position the subscriber asked for or stood at.
    public var requestedAfter: Int64
    /// The position delivery resumes after.
    public var resumedAfter: Int64
    /// Why.
    public var reason: Reason

    /// Creates a reset.
    public init(topic: String, requestedAfter: Int64, resumedAfter: Int64, reason: Reason) {
        self.topic = topic
        self.requestedAfter = requestedAfter
        self.resumedAfter = resumedAfter
        self.reason = reason
    }

    /// The reset owed when the next retained seq after `position` is not `position + 1`:
    /// the seqs between expired. Reading from the very beginning (`0`) owes none.
    public static func gap(topic: String, position: Int64, next: Int64) -> Reset? {
        guard position > 0, next > position + 1 else { return nil }
        return Reset(topic: topic, requestedAfter: position, resumedAfter: next - 1, reason: .expired)
    }

    /// `{"topic":..,"requested_after":..,"resumed_after":..,"reason":..}`
    public func appendJSON(to bytes: inout [UInt8]) {
        bytes.append(contentsOf: #"{"topic":""#.utf8)
        bytes.append(contentsOf: self.topic.utf8)
        bytes.append(contentsOf: #"","requested_after":"#.utf8)
        bytes.append(contentsOf: String(self.requestedAfter).utf8)
        bytes.append(contentsOf: #","resumed_after":"#.utf8)
        bytes.append(contentsOf: String(self.resumedAfter).utf8)
        bytes.append(contentsOf: #","reason":""#.utf8)
        bytes.append(contentsOf: self.reason.rawValue.utf8)
        bytes.append(contentsOf: #""}"#.utf8)
    }
}
