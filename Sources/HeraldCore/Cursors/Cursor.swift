/// Where a subscriber stands: per topic, the last seq it has received.
///
/// Written `topic:seq` pairs joined by commas (`orders:42,alerts:7`), in the order the
/// topics were given. `topic:0` means "from the very beginning of what is retained".
public struct Cursor: Sendable, Equatable, CustomStringConvertible {
    /// The positions, in order.
    public private(set) var positions: [(topic: String, seq: Int64)]

    /// Creates a cursor from positions (later duplicates of a topic replace earlier ones).
    public init(_ positions: [(topic: String, seq: Int64)] = []) {
        self.positions = []
        for position in positions { self[position.topic] = position.seq }
    }

    /// The seq for `topic`, if the cursor names it.
    public subscript(topic: String) -> Int64? {
        get { self.positions.first { $0.topic == topic }?.seq }
        set {
            if let index = self.positions.firstIndex(where: { $0.topic == topic }) {
                if let newValue {
                    self.positions[index].seq = newValue
                } else {
                    self.positions.remove(at: index)
                }
            } else if let newValue {
                self.positions.append((topic, newValue))
            }
        }
    }

    /// Parses `topic:seq,...`; with `singleTopic`, a bare integer means that topic's seq.
    public static func parse(_ text: some StringProtocol, singleTopic: String? = nil) throws(HeraldError) -> Cursor {
        let trimmed = text.utf8.isEmpty ? "" : String(text)
        if let singleTopic, let seq = Int64(trimmed), seq >= 0 {
            return Cursor([(singleTopic, seq)])
        }
        var cursor = Cursor()
        for part in trimmed.split(separator: ",", omittingEmptySubsequences: false) {
            guard let colon = part.lastIndex(of: ":") else {
                throw HeraldError(.invalidCursor, "cursor must be topic:seq pairs joined by commas, got '\(text.prefix(200))'")
            }
            let topic = part[..<colon]
            guard NameRules.isValidTopic(topic) else {
                throw HeraldError(.invalidCursor, "cursor names an invalid topic '\(topic.prefix(140))'")
            }
            guard let seq = Int64(part[part.index(after: colon)...]), seq >= 0 else {
                throw HeraldError(.invalidCursor, "cursor seq for '\(topic)' must be a non-negative integer")
            }
            cursor[String(topic)] = seq
        }
        return cursor
    }

    public static func == (lhs: Cursor, rhs: Cursor) -> Bool {
        lhs.positions.elementsEqual(rhs.positions) { $0.topic == $1.topic && $0.seq == $1.seq }
    }

    /// `topic:seq,...`
    public var description: String {
        self.positions.map { "\($0.topic):\($0.seq)" }.joined(separator: ",")
    }
}
