import Synchronization

/// What this instance knows of the admin purges: per topic, the seq through which the
/// topic was purged (`herald.purges`).
///
/// The log's reads filter purged rows in SQL, exactly; these marks only name the reset a
/// subscriber starting inside a purged range gets (`purged`, not `expired`). They are
/// loaded when the LISTEN connection comes up and follow the control channel's
/// `purge:topic:seq` notices, so another instance's purge is known within a notification's
/// delay (a reader that has not heard of it yet calls the gap `expired`).
public final class PurgeMarks: Sendable {
    private let marks = Mutex<[String: Int64]>([:])

    /// Creates empty marks.
    public init() {}

    /// The seq through which `topic` was purged, if it was.
    public subscript(topic: String) -> Int64? {
        self.marks.withLock { $0[topic] }
    }

    /// Records a purge (marks only grow).
    public func record(topic: String, through seq: Int64) {
        self.marks.withLock { $0[topic] = max($0[topic] ?? 0, seq) }
    }

    /// The reset a subscriber at `position` on `topic` is owed because of a purge, if
    /// `position` is inside the purged range (`0`, "everything retained", never is).
    public func reset(topic: String, position: Int64) -> Reset? {
        guard position > 0, let mark = self[topic], position < mark else { return nil }
        return Reset(topic: topic, requestedAfter: position, resumedAfter: mark, reason: .purged)
    }

    /// The control channel's payload prefix.
    static let prefix = "purge:"

    /// Applies a `purge:topic:seq` notice; returns whether it was one.
    func apply(payload: String) -> Bool {
        guard payload.hasPrefix(Self.prefix), let colon = payload.lastIndex(of: ":"),
            let seq = Int64(payload[payload.index(after: colon)...])
        else { return false }
        let topic = payload[payload.index(payload.startIndex, offsetBy: Self.prefix.count)..<colon]
        self.record(topic: String(topic), through: seq)
        return true
    }
}
