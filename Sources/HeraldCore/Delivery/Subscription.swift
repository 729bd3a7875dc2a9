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
/// A subscription belongs to the one task that calls `next()` (or to its
/// `SubscriptionDriver`, whose tasks take turns); others talk to it through
/// `inbox.post(_:)`, whose messages `next()` hands back. A transport that can write to its
/// connection from any thread may pass a `LiveSink`: while every topic is live and nothing
/// is queued, `next()` lets the sink deliver live notifications directly and only wakes
/// for what the sink cannot do.
public final class Subscription {
    /// Something to deliver, with the subscriber's cursor after it.
    public enum Event {
        /// A notification. Its cursor is nil for a subscription of one topic: the
        /// notification's own `topic:seq` (`EncodedNotification.sseEvent` holds it).
        case notification(EncodedNotification, cursor: String?)
        /// A reset, before the notifications of its topic that follow it.
        case reset(Reset, cursor: String)

        /// Whether it is a notification (not a reset): what delivery metrics count.
        public var isNotification: Bool {
            if case .notification = self { true } else { false }
        }

        /// The position delivering it reaches on its topic: a notification's seq, or where
        /// a reset resumed. What the client's cursor records once it is written.
        public var position: (topic: String, seq: Int64) {
            switch self {
            case .notification(let encoded, _): (encoded.topic, encoded.seq)
            case .reset(let reset, _): (reset.topic, reset.resumedAfter)
            }
        }
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

    /// The inbox the hub and the transport fill.
    public let inbox: SubscriberInbox
    /// The client id whose cursors start topics without an explicit position.
    public let clientID: String?
    let hub: Hub
    let policy: CursorPolicy
    let sink: (any LiveSink)?
    private var positions = Positions()
    private var phases: [String: Phase] = [:]
    /// Whether the sink holds the positions right now.
    private var isDirect = false
    private var catchUpTurn = 0
    private var readFailures = 0
    /// The next page of a topic being caught up, read while the current one is sent (a
    /// read other subscribers may share: dropped, never cancelled).
    private var prefetch: (topic: String, after: Int64, page: Task<CatchUpReads.Page, any Error>)?
    private var isClosed = false
    /// Events owed before anything else (the resets of a start).
    private var owed: [Event] = []
    /// Topics an admin replayed while subscribed: acks on them count only up to what was
    /// delivered since (`acknowledgeable`).
    private var replayed: Set<String> = []
    /// The turn the page of history `next()` returned holds until it is written.
    private var pageTurn: Turn?

    /// Creates a subscription with no topics yet.
    public init(
        hub: Hub,
        policy: CursorPolicy,
        clientID: String?,
        inboxCapacity: Int = 512,
        sink: (any LiveSink)? = nil,
        wantsHeartbeats: Bool = true
    ) {
        self.hub = hub
        self.policy = policy
        self.clientID = clientID
        self.sink = sink
        self.inbox = SubscriberInbox(capacity: inboxCapacity, wantsHeartbeats: wantsHeartbeats)
        if let clientID { hub.clients.add(self.inbox, client: clientID) }
    }

    deinit {
        self.hub.unregister(self.inbox, topics: self.positions.topics)
        if let clientID { self.hub.clients.remove(self.inbox, client: clientID) }
    }

    /// The topics, in the order they were added.
    public var subscribedTopics: [String] { self.positions.topics }

    /// Where the subscriber stands: every topic at the last seq delivered.
    public var cursor: Cursor { self.positions.cursor }

    /// Delivered positions with the versions of the client's cursors they are based on.
    public func marks(_ delivered: [(topic: String, seq: Int64)]) -> [CursorMark] {
        self.positions.marks(delivered)
    }

    /// The versions of the client's cursors this subscription's positions are based on.
    public var cursorVersions: [String: Int64] { self.positions.versions }

    /// `cursor` as the client may acknowledge it here: on a topic an admin replayed while
    /// it was subscribed, no further than what was delivered since (an ack sent before the
    /// client saw the replay must not undo it).
    public func acknowledgeable(_ cursor: Cursor) -> Cursor {
        // While a sink delivers, its positions are the current ones.
        let positions = self.isDirect ? self.sink?.currentPositions ?? self.positions : self.positions
        var limited = cursor
        for (topic, seq) in cursor.positions where self.replayed.contains(topic) {
            if let position = positions[topic], seq > position { limited[topic] = position }
        }
        return limited
    }

    /// Adds `topics` (a topic already present starts over from its explicit position when
    /// one is given); returns the cursor it starts from: where a reset is owed at the start,
    /// the position before it (`requested_after`), so that a client resuming from this
    /// cursor is told of the reset again rather than skipping silently. Starts come from
    /// `CursorPolicy`: `explicit`, else the client's stored cursor, else now; with
    /// `acknowledging`, the explicit positions are recorded as the client's. Call it from
    /// `next()`'s task; a sink delivering live gives the positions back first.
    @discardableResult
    public func subscribe(_ topics: [String], after explicit: Cursor = Cursor(), acknowledging: Bool = false) async throws -> Cursor {
        self.reclaimFromSink()
        let restarting = topics.filter { self.phases[$0] != nil && explicit[$0] != nil }
        if !restarting.isEmpty { self.unsubscribe(restarting) }
        let new = topics.filter { self.phases[$0] == nil }
        guard !new.isEmpty else { return self.cursor }
        // Register first: what is committed from now on is queued, so nothing can slip
        // between the start positions read below and the live notifications.
        let joinFrom = try await self.hub.register(self.inbox, topics: new)
        let start: CursorPolicy.Start
        do {
            start = try await self.policy.start(
                topics: new, explicit: explicit, client: self.clientID, acknowledging: acknowledging
            )
        } catch {
            self.hub.unregister(self.inbox, topics: new)
            throw error
        }
        for topic in new {
            let position = start.cursor[topic] ?? 0
            let from = joinFrom[topic] ?? 0
            self.positions.set(topic, position, version: start.versions[topic] ?? 0)
            self.phases[topic] = position >= from ? .live : .catchingUp(joinFrom: from)
        }
        var starting = self.cursor
        for reset in start.resets {
            self.owed.append(.reset(reset, cursor: self.positions.cursorText))
            starting[reset.topic] = reset.requestedAfter
        }
        return starting
    }

    /// Removes `topics` (a sink delivering live gives the positions back first).
    public func unsubscribe(_ topics: [String]) {
        self.reclaimFromSink()
        let present = topics.filter { self.phases[$0] != nil }
        self.hub.unregister(self.inbox, topics: present)
        for topic in present {
            self.phases[topic] = nil
            self.inbox.discard(topic: topic)
        }
        self.positions.remove(present)
        self.replayed.subtract(present)
        self.owed.removeAll { if case .reset(let reset, _) = $0 { present.contains(reset.topic) } else { false } }
    }

    /// Ends the subscription: it leaves the hub, and `next()` returns `.closed`.
    public func close() {
        self.isClosed = true
        self.endPageTurn()
        self.prefetch = nil
        self.inbox.close()
        self.hub.unregister(self.inbox, topics: self.positions.topics)
        if let clientID { self.hub.clients.remove(self.inbox, client: clientID) }
        self.positions = Positions()
        self.phases = [:]
    }

    /// The turn (`Hub.pageTurns`) the page of history `next()` just returned holds, if it
    /// was one: the transport ends it once its event loop has written the page, before it
    /// waits for a full socket. Not taken, it ends at the next call of `next()`.
    public func takePageTurn() -> Turn? {
        defer { self.pageTurn = nil }
        return self.pageTurn
    }

    /// Gives back the turn of a page of history not taken by the transport, if any.
    private func endPageTurn() {
        self.pageTurn?.end()
        self.pageTurn = nil
    }

    /// The next thing to deliver, waiting until there is one. A page of history waits for
    /// a turn (`takePageTurn()`).
    public func next() async -> Next {
        guard let result = await self.next(parking: nil) else { preconditionFailure("parked without a driver") }
        return result
    }

    /// `next()`, or nil when it parked with `driver` instead of waiting: while the sink
    /// delivers (or there are no topics) and nothing is pending (`SubscriptionDriver`).
    func next(parking driver: SubscriptionDriver?) async -> Next? {
        self.endPageTurn()
        while true {
            if self.isClosed { return .closed }
            if !self.owed.isEmpty {
                defer { self.owed = [] }
                return .events(self.owed)
            }
            if let topic = self.nextCatchingUpTopic() {
                // Live topics and posted messages are not starved by a long catch-up.
                let live = Set(self.positions.topics.filter { if case .live = self.phases[$0] { true } else { false } })
                if let item = self.inbox.poll(topics: live), let next = self.handle(item) { return next }
                if let events = await self.catchUp(topic), !events.isEmpty { return .events(events) }
                self.endPageTurn()
                continue
            }
            if !self.isDirect, let sink = self.sink, !self.positions.topics.isEmpty {
                self.isDirect = self.inbox.enterDirect(sink, positions: self.positions)
            }
            if let driver, self.isDirect || self.positions.topics.isEmpty, self.inbox.park(driver) { return nil }
            if let next = self.handle(await self.inbox.take()) { return next }
        }
    }

    // MARK: - Delivery

    private func handle(_ item: SubscriberInbox.Item) -> Next? {
        switch item {
        case .notifications(let list):
            var events: [Event] = []
            let now = PostgresTimestamp.now
            for encoded in list {
                guard case .live = self.phases[encoded.topic] else { continue }
                self.positions.accept(encoded, now: now, into: &events)
            }
            return events.isEmpty ? nil : .events(events)
        case .overflowed(let topics, let returned):
            if let returned {
                // The sink could not keep up and gave the positions back.
                self.positions = returned
                self.isDirect = false
            }
            for (topic, dropped) in topics {
                guard let phase = self.phases[topic] else { continue }
                let joinFrom: Int64
                if case .catchingUp(let previous) = phase { joinFrom = max(previous, dropped) } else { joinFrom = dropped }
                self.phases[topic] = .catchingUp(joinFrom: joinFrom)
            }
            return nil
        case .message(let replay as CursorReplay):
            return self.replay(replay)
        case .message(let message):
            return .message(message)
        case .heartbeat:
            return .heartbeat
        case .closed:
            self.isClosed = true
            return .closed
        }
    }

    // MARK: - Replay

    /// An admin set this client's cursor on one of its topics (announced on the control
    /// channel): delivery of that topic restarts there at once, after a `replay` reset, and
    /// the one-shot override of the client's next start is used up. A notice this
    /// subscription's start already took (its version is not newer) changes nothing.
    private func replay(_ replay: CursorReplay) -> Next? {
        guard let phase = self.phases[replay.topic], replay.version > self.positions.versions[replay.topic] ?? 0 else {
            return nil
        }
        self.reclaimFromSink()
        guard let position = self.positions[replay.topic] else { return nil }
        if self.prefetch?.topic == replay.topic { self.prefetch = nil }
        // Everything the hub handed out so far reached `position` (or is queued, or counted
        // as dropped): catching up from the replay position covers it.
        var joinFrom = position
        if case .catchingUp(let previous) = phase { joinFrom = max(joinFrom, previous) }
        self.positions.set(replay.topic, replay.seq, version: replay.version)
        self.phases[replay.topic] = .catchingUp(joinFrom: joinFrom)
        self.replayed.insert(replay.topic)
        if let cursors = self.policy.cursors { Task { await cursors.consumeReplay(replay) } }
        let reset = Reset(topic: replay.topic, requestedAfter: position, resumedAfter: replay.seq, reason: .replay)
        return .events([.reset(reset, cursor: self.positions.cursorText)])
    }

    /// Takes live delivery back from the sink, if it has it: the positions come back, and
    /// what the sink was handed and had not written is read again from PostgreSQL, as after
    /// an overflow. Before anything that reads or changes the positions outside delivery.
    private func reclaimFromSink() {
        guard self.isDirect, let sink = self.sink else { return }
        if let returned = self.inbox.reclaimDirect(sink) { self.positions = returned }
        self.isDirect = false
    }

    // MARK: - Catching up

    private func nextCatchingUpTopic() -> String? {
        let topics = self.positions.topics
        guard !topics.isEmpty else { return nil }
        for offset in 0..<topics.count {
            let topic = topics[(self.catchUpTurn + offset) % topics.count]
            if case .catchingUp = self.phases[topic] {
                self.catchUpTurn = (self.catchUpTurn + offset + 1) % topics.count
                return topic
            }
        }
        return nil
    }

    /// Reads one page of `topic` from PostgreSQL and takes a turn to deliver it
    /// (`pageTurn`); joins the live notifications when the page is short and covers
    /// `joinFrom`. Returns nil when the read failed (it waits a little first, so a database
    /// outage does not spin).
    private func catchUp(_ topic: String) async -> [Event]? {
        guard case .catchingUp(let joinFrom) = self.phases[topic], let position = self.positions[topic] else { return [] }
        let pageSize = self.hub.pageSize
        let page: CatchUpReads.Page
        // A page read now, after `joinFrom` was committed (a prefetched one may be older).
        var isFresh = false
        HeraldMetrics.catchUpRead()
        do {
            if let prefetch = self.prefetch, prefetch.topic == topic, prefetch.after == position {
                self.prefetch = nil
                page = try await prefetch.page.value
            } else {
                isFresh = true
                self.prefetch = nil
                page = try await self.hub.catchUpReads.read(topic: topic, after: position, limit: pageSize)
            }
            self.readFailures = 0
        } catch {
            self.readFailures += 1
            try? await Task.sleep(for: .milliseconds(min(5000, 50 << min(self.readFailures, 7))))
            return nil
        }
        // More follows: read the next page while this one is being sent.
        let rows = page.notifications
        if !page.isLast, let last = rows.last {
            self.prefetch = (topic, last.seq, self.hub.catchUpReads.start(topic: topic, after: last.seq, limit: pageSize))
        }
        // Making the page into events and writing them waits for a turn (`Hub.pageTurns`):
        // the subscribers that shared this read all have it now, and would otherwise queue
        // that work on the event loops together.
        self.pageTurn = await self.hub.pageTurns.take()
        // The topic may have been unsubscribed or restarted while reading.
        guard self.positions[topic] == position else { return [] }
        var events: [Event] = []
        events.reserveCapacity(rows.count + 2)
        // An admin purged what this position is in: say so, and go on after the purge.
        if let purged = self.policy.store.purges.reset(topic: topic, position: position) {
            self.positions.set(topic, purged.resumedAfter, version: self.positions.versions[topic] ?? 0)
            events.append(.reset(purged, cursor: self.positions.cursorText))
        }
        // A kept or prefetched page was read a moment ago: what expired since is left out.
        let now = PostgresTimestamp.now
        for encoded in rows { self.positions.accept(encoded, now: now, into: &events) }
        if isFresh, page.isLast, rows.isEmpty, let reached = self.positions[topic], reached < joinFrom {
            // Nothing is retained up to what the hub handed out (all committed before this
            // read began): those seqs expired.
            // ("Everything retained", 0, gets no reset.)
            self.positions.set(topic, joinFrom, version: self.positions.versions[topic] ?? 0)
            if reached > 0 {
                let reset = Reset(topic: topic, requestedAfter: reached, resumedAfter: joinFrom, reason: .expired)
                events.append(.reset(reset, cursor: self.positions.cursorText))
            }
        }
        if page.isLast, (self.positions[topic] ?? 0) >= joinFrom {
            self.phases[topic] = .live
        }
        return events
    }
}
