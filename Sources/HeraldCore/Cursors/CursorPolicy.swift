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

    /// Where a subscriber starts.
    public struct Start: Sendable {
        /// Per topic, the position delivery starts after.
        public var cursor: Cursor
        /// Per topic, the version of the client's cursor the start is based on (absent: 0).
        public var versions: [String: Int64]
        /// Resets owed before anything else: topics an admin replayed since the client last
        /// started on them (reason `replay`).
        public var resets: [Reset]
    }

    /// Where delivery of `topics` starts. Refuses explicit positions past a topic's last
    /// seq; creates the client's cursor on topics where it has none; with
    /// `acknowledging`, records the explicit positions as the client's (a poll's `after`,
    /// SSE's `Last-Event-ID`). A topic an admin replayed since the client last started on
    /// it starts at the replay position with a `replay` reset, whatever the explicit
    /// position (one-shot: the next start is as usual).
    public func start(topics: [String], explicit: Cursor, client: String?, acknowledging: Bool = false) async throws -> Start {
        var begun = CursorStore.Begun()
        if let client, let cursors {
            begun = try await cursors.begin(client: client, topics: topics, explicit: explicit)
        } else {
            begun.heads = try await self.store.lastSeqs(of: topics)
        }
        try Self.check(explicit, against: begun.heads)
        var start = Start(cursor: Cursor(), versions: [:], resets: [])
        var acknowledged: [CursorMark] = []
        for topic in topics {
            let head = begun.heads[topic] ?? 0
            let stored = begun.stored[topic]
            if let stored { start.versions[topic] = stored.version }
            if begun.replayed.contains(topic), let stored {
                start.cursor[topic] = stored.seq
                let requested = explicit[topic] ?? stored.seq
                start.resets.append(Reset(topic: topic, requestedAfter: requested, resumedAfter: stored.seq, reason: .replay))
                continue
            }
            if let seq = explicit[topic] {
                start.cursor[topic] = seq
                acknowledged.append(CursorMark(topic: topic, seq: seq, version: stored?.version ?? 0))
            } else {
                // A stored cursor past the last seq (a database restored from an older
                // backup) would skip what comes next without a word: it counts as the last seq.
                start.cursor[topic] = stored.map { min($0.seq, head) } ?? head
            }
        }
        if acknowledging, let client, !acknowledged.isEmpty {
            self.cursors?.record(client: client, acknowledged)
        }
        return start
    }

    /// A client's acknowledgement of `cursor` (a WebSocket `ack`): refused past a topic's
    /// last seq, otherwise recorded on the cursor versions the client knows (`versions`;
    /// a topic it does not know is taken on its stored version).
    public func acknowledge(client: String, _ cursor: Cursor, versions: [String: Int64]) async throws {
        guard let cursors, !cursor.positions.isEmpty else { return }
        let topics = cursor.positions.map(\.topic)
        try Self.check(cursor, against: try await self.store.lastSeqs(of: topics))
        let unknown = topics.filter { versions[$0] == nil }
        let stored = unknown.isEmpty ? [:] : try await cursors.versions(client: client, topics: unknown)
        cursors.record(
            client: client,
            cursor.positions.map { CursorMark(topic: $0.topic, seq: $0.seq, version: versions[$0.topic] ?? stored[$0.topic] ?? 0) }
        )
    }

    /// The client's connection has written these positions (notifications, or resets'
    /// `resumed_after`), on the cursor versions of `positions`: call once the write completed.
    public func delivered(client: String, _ marks: [CursorMark]) {
        self.cursors?.record(client: client, marks)
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
