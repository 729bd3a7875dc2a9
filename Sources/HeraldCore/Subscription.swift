import HeraldPostgres

/// One subscriber's delivery, independent of the transport: per topic, notifications in
/// seq order without gaps or repeats, resets where history is gone, and a cursor.
///
/// For each topic the subscription is first registered with the hub (from then on the
/// hub queues that topic's new notifications in its inbox), then reads PostgreSQL from
/// its start position in pages until it has covered everything up to the seq the hub
/// hands out from (`joinFrom`), then switches to the live notifications, dropping those
/// it has already sent. When its inbox overflows (a slow reader) it goes back to reading
/// PostgreSQL for that topic, and rejoins. Reconnects, slow readers and late joiners are
/// all this one mechanism.
///
/// A subscription belongs to the one task that calls `next()`; others talk to it through
/// `inbox.post(_:)`, whose messages `next()` hands back.
public final class Subscription {
    /// Something to deliver, with the subscriber's cursor after it.
    public enum Event {
        /// A notification.
        case notification(EncodedNotification, cursor: String)
        /// A reset, before the notifications of its topic that follow it.
        case reset(Reset, cursor: String)
    }

    /// What `next()` returns.
    public enum Next {
        /// Events to deliver, in order.
        case events([Event])
        /// A message posted to the inbox.
        case message(any Sendable)
        /// Time for a keep-alive.
        case heartbeat
        /// The subscription is closed.
        case closed
    }

    enum Phase {
        /// Reading PostgreSQL; live notifications take over after `joinFrom`.
        case catchingUp(joinFrom: Int64)
        case live
    }

    struct TopicState {
        var position: Int64
        var phase: Phase
    }

    /// The inbox the hub and the transport fill.
    public let inbox: SubscriberInbox
    /// The client id whose cursors start topics without an explicit position.
    public let clientID: String?
    let hub: Hub
    let store: NotificationStore
    let cursors: CursorStore?
    private(set) var topics: [String] = []
    private var states: [String: TopicState] = [:]
    private var catchUpTurn = 0
    private var readFailures = 0
    private var isClosed = false

    /// Creates a subscription with no topics yet.
    public init(hub: Hub, store: NotificationStore, cursors: CursorStore?, clientID: String?, inboxCapacity: Int = 512) {
        self.hub = hub
        self.store = store
        self.cursors = cursors
        self.clientID = clientID
        self.inbox = SubscriberInbox(capacity: inboxCapacity)
    }

    deinit {
        self.hub.unregister(self.inbox, topics: self.topics)
    }

    /// The topics, in the order they were added.
    public var subscribedTopics: [String] { self.topics }

    /// Where the subscriber stands: every topic at the last seq delivered.
    public var cursor: Cursor {
        Cursor(self.topics.map { ($0, self.states[$0]?.position ?? 0) })
    }

    /// `cursor.description`, built directly: it goes with every event.
    var cursorText: String {
        if self.topics.count == 1, let topic = self.topics.first {
            return topic + ":" + String(self.states[topic]?.position ?? 0)
        }
        var text = ""
        text.reserveCapacity(self.topics.count * 24)
        for (index, topic) in self.topics.enumerated() {
            if index > 0 { text += "," }
            text += topic
            text += ":"
            text += String(self.states[topic]?.position ?? 0)
        }
        return text
    }

    /// Adds `topics` (a topic already present starts over from its explicit position when
    /// one is given); returns the cursor. Starts come from `explicit`, else the client's
    /// stored cursor, else now.
    @discardableResult
    public func subscribe(_ topics: [String], after explicit: Cursor = Cursor()) async throws -> Cursor {
        let restarting = topics.filter { self.states[$0] != nil && explicit[$0] != nil }
        if !restarting.isEmpty { self.unsubscribe(restarting) }
        let new = topics.filter { self.states[$0] == nil }
        guard !new.isEmpty else { return self.cursor }
        // Register first: what is committed from now on is queued, so nothing can slip
        // between the start positions read below and the live notifications.
        let joinFrom = try await self.hub.register(self.inbox, topics: new)
        let starts: Cursor
        do {
            starts = try await StartPositions.resolve(
                topics: new, explicit: explicit, client: self.clientID, cursors: self.cursors, store: self.store
            )
        } catch {
            self.hub.unregister(self.inbox, topics: new)
            throw error
        }
        for topic in new {
            let position = starts[topic] ?? 0
            let from = joinFrom[topic] ?? 0
            self.states[topic] = TopicState(position: position, phase: position >= from ? .live : .catchingUp(joinFrom: from))
            self.topics.append(topic)
        }
        return self.cursor
    }

    /// Removes `topics`.
    public func unsubscribe(_ topics: [String]) {
        let present = topics.filter { self.states[$0] != nil }
        self.hub.unregister(self.inbox, topics: present)
        for topic in present {
            self.states[topic] = nil
            self.inbox.discard(topic: topic)
        }
        self.topics.removeAll { present.contains($0) }
    }

    /// Ends the subscription: it leaves the hub, and `next()` returns `.closed`.
    public func close() {
        self.isClosed = true
        self.inbox.close()
        self.hub.unregister(self.inbox, topics: self.topics)
        self.topics = []
        self.states = [:]
    }

    /// The next thing to deliver, waiting until there is one.
    public func next() async -> Next {
        while true {
            if self.isClosed { return .closed }
            if let topic = self.nextCatchingUpTopic() {
                // Live topics and posted messages are not starved by a long catch-up.
                let live = Set(self.topics.filter { if case .live = self.states[$0]?.phase { true } else { false } })
                if let item = self.inbox.poll(topics: live), let next = self.handle(item) { return next }
                if let events = await self.catchUp(topic), !events.isEmpty { return .events(events) }
                continue
            }
            if let next = self.handle(await self.inbox.take()) { return next }
        }
    }

    // MARK: - Delivery

    private func handle(_ item: SubscriberInbox.Item) -> Next? {
        switch item {
        case .notifications(let list):
            let events = self.deliverLive(list)
            return events.isEmpty ? nil : .events(events)
        case .overflowed(let topics):
            for (topic, dropped) in topics {
                guard let state = self.states[topic] else { continue }
                let joinFrom: Int64
                if case .catchingUp(let previous) = state.phase { joinFrom = max(previous, dropped) } else { joinFrom = dropped }
                self.states[topic]?.phase = .catchingUp(joinFrom: joinFrom)
            }
            return nil
        case .message(let message):
            return .message(message)
        case .heartbeat:
            return .heartbeat
        case .closed:
            self.isClosed = true
            return .closed
        }
    }

    private func deliverLive(_ list: [EncodedNotification]) -> [Event] {
        var events: [Event] = []
        let now = PostgresTimestamp.now
        for encoded in list {
            guard let state = self.states[encoded.topic], case .live = state.phase, encoded.seq > state.position else { continue }
            // Past its own ttl by now: not delivered; the gap it leaves is reported by a
            // reset before the next one.
            if let expires = encoded.notification.expiresAt, expires <= now { continue }
            self.append(encoded, to: &events)
        }
        return events
    }

    /// Appends a notification (and the reset owed before it) and advances the position.
    private func append(_ encoded: EncodedNotification, to events: inout [Event]) {
        let topic = encoded.topic
        let position = self.states[topic]?.position ?? 0
        if let reset = Reset.gap(topic: topic, position: position, next: encoded.seq) {
            self.states[topic]?.position = reset.resumedAfter
            events.append(.reset(reset, cursor: self.cursorText))
        }
        self.states[topic]?.position = encoded.seq
        events.append(.notification(encoded, cursor: self.cursorText))
    }

    // MARK: - Catching up

    private func nextCatchingUpTopic() -> String? {
        guard !self.topics.isEmpty else { return nil }
        for offset in 0..<self.topics.count {
            let topic = self.topics[(self.catchUpTurn + offset) % self.topics.count]
            if case .catchingUp = self.states[topic]?.phase {
                self.catchUpTurn = (self.catchUpTurn + offset + 1) % self.topics.count
                return topic
            }
        }
        return nil
    }

    /// Reads one page of `topic` from PostgreSQL; joins the live notifications when the
    /// page is short and covers `joinFrom`. Returns nil when the read failed (it waits a
    /// little first, so a database outage does not spin).
    private func catchUp(_ topic: String) async -> [Event]? {
        guard let state = self.states[topic], case .catchingUp(let joinFrom) = state.phase else { return [] }
        let pageSize = self.hub.pageSize
        let rows: [Notification]
        do {
            rows = try await self.store.read(after: [(topic, state.position)], limit: pageSize)
            self.readFailures = 0
        } catch {
            self.readFailures += 1
            try? await Task.sleep(for: .milliseconds(min(5000, 50 << min(self.readFailures, 7))))
            return nil
        }
        // The topic may have been unsubscribed or restarted while reading.
        guard let current = self.states[topic], current.position == state.position else { return [] }
        var events: [Event] = []
        events.reserveCapacity(rows.count + 1)
        for row in rows { self.append(EncodedNotification(row), to: &events) }
        if rows.count < pageSize, (self.states[topic]?.position ?? 0) >= joinFrom {
            self.states[topic]?.phase = .live
        }
        return events
    }
}
