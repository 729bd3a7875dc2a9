import HeraldPostgres

/// A subscriber's position on each of its topics, and the one rule of delivering in
/// order: a notification at or before the position is a repeat and is dropped, one past
/// its ttl is not sent, and a gap before the next one is announced by a reset.
///
/// Both ways of delivering use it: a subscription's task, and a transport writing live
/// notifications straight to its connection (`LiveSink`), which takes the positions over
/// while it does and hands them back after.
public struct Positions: Sendable {
    /// The topics, in the order they were added.
    public private(set) var topics: [String] = []
    private var seqs: [String: Int64] = [:]
    /// The version of the client's stored cursor each position is based on (absent: 0);
    /// what it records goes with it (see `CursorStore`).
    public private(set) var versions: [String: Int64] = [:]

    /// Creates empty positions.
    public init() {}

    /// The position on `topic`, if it is one of the topics.
    public subscript(topic: String) -> Int64? {
        self.seqs[topic]
    }

    /// Adds a topic at `seq`, or moves it there, on the client's cursor `version`.
    mutating func set(_ topic: String, _ seq: Int64, version: Int64 = 0) {
        if self.seqs[topic] == nil { self.topics.append(topic) }
        self.seqs[topic] = seq
        self.versions[topic] = version
    }

    /// Removes topics.
    mutating func remove(_ topics: [String]) {
        for topic in topics {
            self.seqs[topic] = nil
            self.versions[topic] = nil
        }
        self.topics.removeAll { topics.contains($0) }
    }

    /// Delivered positions with the cursor versions they are based on, for `CursorStore`.
    public func marks(_ delivered: [(topic: String, seq: Int64)]) -> [CursorMark] {
        delivered.map { CursorMark(topic: $0.topic, seq: $0.seq, version: self.versions[$0.topic] ?? 0) }
    }

    /// The cursor: every topic at its position.
    public var cursor: Cursor {
        Cursor(self.topics.map { ($0, self.seqs[$0] ?? 0) })
    }

    /// `cursor.description`, built directly: it goes with every event.
    public var cursorText: String {
        if self.topics.count == 1, let topic = self.topics.first {
            return topic + ":" + String(self.seqs[topic] ?? 0)
        }
        var text = ""
        text.reserveCapacity(self.topics.count * 24)
        for (index, topic) in self.topics.enumerated() {
            if index > 0 { text += "," }
            text += topic
            text += ":"
            text += String(self.seqs[topic] ?? 0)
        }
        return text
    }

    /// Takes `encoded` in order: appends the events to send (a reset first when seqs
    /// between expired) and advances the position. `checkExpiry` skips a notification
    /// whose ttl passed by `now` (one that waited in an inbox).
    public mutating func accept(
        _ encoded: EncodedNotification,
        now: PostgresTimestamp?,
        into events: inout [Subscription.Event]
    ) {
        let topic = encoded.topic
        guard let index = self.seqs.index(forKey: topic) else { return }
        let position = self.seqs.values[index]
        guard encoded.seq > position else { return }
        if let now, let expires = encoded.notification.expiresAt, expires <= now { return }
        if let reset = Reset.gap(topic: topic, position: position, next: encoded.seq) {
            self.seqs.values[index] = reset.resumedAfter
            events.append(.reset(reset, cursor: self.cursorText))
        }
        self.seqs.values[index] = encoded.seq
        // Of one topic, the cursor is the notification's own `topic:seq`: no text to make.
        events.append(.notification(encoded, cursor: self.topics.count == 1 ? nil : self.cursorText))
    }

    /// Accepts `encoded` when it is the very next notification of the only topic and has
    /// not expired: its event is then the same for every subscriber of that topic alone
    /// (`EncodedNotification.sseSingleTopicChunk`). Otherwise changes nothing and returns
    /// false; `accept(_:now:into:)` then decides. With `now` nil the clock is read, if
    /// `encoded` can expire at all.
    public mutating func acceptAlone(_ encoded: EncodedNotification, now: PostgresTimestamp?) -> Bool {
        guard self.topics.count == 1, self.topics[0] == encoded.topic,
            let index = self.seqs.index(forKey: encoded.topic), self.seqs.values[index] == encoded.seq - 1
        else { return false }
        if let expires = encoded.notification.expiresAt, expires <= now ?? .now { return false }
        self.seqs.values[index] = encoded.seq
        return true
    }
}
