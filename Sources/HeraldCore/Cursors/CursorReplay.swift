/// An admin set of a client's cursor on one topic, as announced to every instance on the
/// control channel: connected subscribers of that client restart the topic there.
public struct CursorReplay: Sendable, Equatable {
    /// The client.
    public var client: String
    /// The topic.
    public var topic: String
    /// The position set: the next notification delivered is `seq + 1`.
    public var seq: Int64
    /// The cursor's version after the set.
    public var version: Int64

    /// Creates a notice.
    public init(client: String, topic: String, seq: Int64, version: Int64) {
        self.client = client
        self.topic = topic
        self.seq = seq
        self.version = version
    }

    /// The control channel's payload prefix.
    static let prefix = "replay:"

    /// Reads `replay:topic:seq:version:client` (topics and numbers hold no `:`; client ids
    /// may, so the client comes last).
    init?(payload: String) {
        guard payload.hasPrefix(Self.prefix) else { return nil }
        let parts = payload.dropFirst(Self.prefix.count).split(separator: ":", maxSplits: 3, omittingEmptySubsequences: false)
        guard parts.count == 4, let seq = Int64(parts[1]), let version = Int64(parts[2]) else { return nil }
        self.init(client: String(parts[3]), topic: String(parts[0]), seq: seq, version: version)
    }

    /// `{"client":..,"topic":..,"seq":..,"version":..}`: what an admin set answers.
    public func appendJSON(to bytes: inout [UInt8]) {
        bytes.append(contentsOf: #"{"client":"#.utf8)
        JSONString.appendQuoted(self.client, to: &bytes)
        bytes.append(contentsOf: #","topic":"#.utf8)
        JSONString.appendQuoted(self.topic, to: &bytes)
        bytes.append(contentsOf: #","seq":\#(self.seq),"version":\#(self.version)}"#.utf8)
    }
}
