/// Where a subscriber stands, decided once for every transport (poll, long-poll, SSE,
/// WebSocket): where delivery starts, which explicit positions are refused, and when a
/// client's stored cursor moves.
///
/// - A start per topic is the explicit cursor, else the client's stored cursor (at most
///   the topic's last seq), else "now" (the topic's last seq).
/// - An explicit position past a topic's last seq names notifications that do not exist;
///   taken as it is, it would skip every one up to it without a reset. It is refused
///   (`invalid_cursor`) and never stored.
/// - A client id's cursor exists from its first subscribe or poll, whatever the start:
///   a client that received nothing and comes back later gets what was published
///   meanwhile. It is written before the subscription answers, so it holds on another
///   instance and after a crash too.
/// - A stored cursor past its topic's last seq (a database restored from an older backup)
///   counts, and is stored, as that last seq, so nothing published next is skipped.
/// - Otherwise a stored cursor moves forward only, on an acknowledgement (a poll's
///   `after`, SSE's `Last-Event-ID`, a WebSocket `ack`) or once the write that carried a
///   notification to the client has completed (`delivered`), never when it is merely
///   handed over.
public struct CursorPolicy: Sendable {
    /// The log, for each topic's last seq.
    public let store: NotificationStore
    /// The clients' stored cursors; without it, clients have none.
    public let cursors: CursorStore?

    /// Creates the policy.
    public init(store: NotificationStore, cursors: CursorStore?) {
        self.store = store
        self.cursors = cursors
    }

    /// Where delivery of `topics` starts. Refuses explicit positions past a topic's last
    /// seq; creates the client's cursor on topics where it has none; with
    /// `acknowledging`, records the explicit positions as the client's (a poll's `after`,
    /// SSE's `Last-Event-ID`).
    public func start(topics: [String], explicit: Cursor, client: String?, acknowledging: Bool = false) async throws -> Cursor {
        let heads: [String: Int64]
        var stored: [String: Int64] = [:]
        if let client, let cursors {
            (heads, stored) = try await cursors.begin(client: client, topics: topics, explicit: explicit)
        } else {
            heads = try await self.store.lastSeqs(of: topics)
        }
        try Self.check(explicit, against: heads)
        if acknowledging, let client, !explicit.positions.isEmpty {
            self.cursors?.record(client: client, explicit.positions)
        }
        var start = Cursor()
        for topic in topics {
            let head = heads[topic] ?? 0
            // A stored cursor past the last seq (a database restored from an older backup)
            // would skip what comes next without a word: it counts as the last seq.
            start[topic] = explicit[topic] ?? stored[topic].map { min($0, head) } ?? head
        }
        return start
    }

    /// A client's acknowledgement of `cursor` (a WebSocket `ack`): refused past a topic's
    /// last seq, otherwise recorded.
    public func acknowledge(client: String, _ cursor: Cursor) async throws {
        guard let cursors, !cursor.positions.isEmpty else { return }
        try Self.check(cursor, against: try await self.store.lastSeqs(of: cursor.positions.map(\.topic)))
        cursors.record(client: client, cursor.positions)
    }

    /// The client's connection has written these positions (notifications, or resets'
    /// `resumed_after`): call once the write completed.
    public func delivered(client: String, _ positions: [(topic: String, seq: Int64)]) {
        self.cursors?.record(client: client, positions)
    }

    /// Throws `invalid_cursor` for the first position past its topic's last seq.
    static func check(_ cursor: Cursor, against heads: [String: Int64]) throws(HeraldError) {
        for (topic, seq) in cursor.positions where seq > heads[topic] ?? 0 {
            throw HeraldError(
                .invalidCursor, "the cursor names \(topic):\(seq), past the topic's last seq \(heads[topic] ?? 0): nothing there exists yet"
            )
        }
    }
}
