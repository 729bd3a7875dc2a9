/// A position to record as a client's cursor on one topic, with the version of the stored
/// cursor it is based on: it is written only while that is still the cursor's version, so
/// an acknowledgement from before an admin set cannot undo the set (see `CursorStore`).
public struct CursorMark: Sendable, Equatable {
    /// The topic.
    public var topic: String
    /// The position: everything up to it is delivered.
    public var seq: Int64
    /// The version of the cursor it is based on.
    public var version: Int64

    /// Creates a mark.
    public init(topic: String, seq: Int64, version: Int64) {
        self.topic = topic
        self.seq = seq
        self.version = version
    }
}
