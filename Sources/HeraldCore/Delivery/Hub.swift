import Logging
import NIOCore
import Metrics
import Synchronization

/// The live subscribers of this instance, by topic, and what has been handed to them.
///
/// For each topic with subscribers the hub keeps a feed: the subscribers' inboxes and
/// the last seq it has read and handed out. A wake-up for a topic costs one read of its
/// new rows, in pages, however many subscribers it has; each notification is encoded
/// once and the same object goes to every inbox. At most one read per topic is in flight,
/// so every inbox gets a topic's notifications in seq order.
///
/// A subscriber joining a topic learns `joinFrom`, the seq after which the hub hands it
/// everything; it reads what comes before from PostgreSQL itself (see `Subscription`).
public final class Hub: Sendable {
    struct Feed {
        var id: Int
        var subscribers: [ObjectIdentifier: SubscriberInbox] = [:]
        /// The last seq read and handed out.
        var dispatched: Int64
        /// A read task is running for the feed.
        var reading = false
        var wokenWhileReading = false
        /// Notifications are being handed to the subscribers (by a read, or from this
        /// instance's commits): nobody else may hand out this topic's meanwhile.
        var handing = false
        /// A read met a hand-off of committed notifications and stopped (the feed stays
        /// `reading`); the hand-off starts it again when it ends.
        var readAfterHanding = false
    }

    struct State {
        var feeds: [String: Feed] = [:]
        var nextFeedID = 0
    }

    let store: NotificationStore
    let logger: Logger
    /// Rows per read.
    let pageSize: Int
    /// The subscriptions by client id (for admin replays).
    public let clients = ClientDirectory()
    /// The subscriptions' catch-up reads: shared while identical, a few at a time.
    public let catchUpReads: CatchUpReads
    /// The catch-up pages being written at once, in rounds with a pause between them so
    /// that the event loops read their sockets meanwhile (`Turns`,
    /// `Subscription.takePageTurn()`).
    public let pageTurns: Turns
    private let state = Mutex(State())
    private let deliveryQueues = Mutex<[ObjectIdentifier: LoopDeliveryQueue]>([:])
    private let overflows = Atomic<Int>(0)
    private let overflowCounter = Counter(label: "herald_subscriber_overflows_total")
    private let reads: AsyncStream<(topic: String, feed: Int)>
    private let readRequests: AsyncStream<(topic: String, feed: Int)>.Continuation
    private let committed: AsyncStream<[Notification]>
    private let committedRequests: AsyncStream<[Notification]>.Continuation

    /// Creates a hub reading through `store`; its subscriptions run at most
    /// `catchUpConcurrency` catch-up reads at once (`CatchUpReads`) and write at most
    /// `pagesWrittenAtOnce` pages of them at once, `pauseBetweenPages` after each round
    /// of that many (`pageTurns`).
    public init(
        store: NotificationStore, pageSize: Int = 1000, catchUpConcurrency: Int = 4, pagesWrittenAtOnce: Int = 8,
        pauseBetweenPages: Duration = .milliseconds(1), logger: Logger = Logger(label: "herald.hub")
    ) {
        self.store = store
        self.pageSize = pageSize
        self.catchUpReads = CatchUpReads(store: store, maximumConcurrent: catchUpConcurrency)
        self.pageTurns = Turns(maximum: pagesWrittenAtOnce, pause: pauseBetweenPages)
        self.logger = logger
        (self.reads, self.readRequests) = AsyncStream.makeStream(of: (topic: String, feed: Int).self)
        (self.committed, self.committedRequests) = AsyncStream.makeStream(
            of: [Notification].self, bufferingPolicy: .bufferingOldest(Self.committedBacklog)
        )
    }

    /// The number of topics with live subscribers.
    public var topicCount: Int { self.state.withLock { $0.feeds.count } }

    /// How many times a subscriber's inbox overflowed (it then caught up from the database).
    public var overflowCount: Int { self.overflows.load(ordering: .relaxed) }

    /// The number of inboxes registered, counted once per topic.
    public var subscriptionCount: Int { self.state.withLock { $0.feeds.values.reduce(0) { $0 + $1.subscribers.count } } }

    /// Adds `inbox` to `topics`' feeds; returns, per topic, the seq after which the hub
    /// hands it every notification.
    func register(_ inbox: SubscriberInbox, topics: [String]) async throws -> [String: Int64] {
        let unknown = self.state.withLock { state in topics.filter { state.feeds[$0] == nil } }
        // A new feed starts at the topic's current last seq, and reads once at once, so
        // anything committed between this query and the feed's creation is not missed.
        let lastSeqs = unknown.isEmpty ? [:] : try await self.store.lastSeqs(of: unknown)
        let (joinFrom, reads) = self.state.withLock { state -> ([String: Int64], [(String, Int)]) in
            var joinFrom: [String: Int64] = [:]
            var reads: [(String, Int)] = []
            for topic in topics {
                if state.feeds[topic] == nil {
                    state.nextFeedID += 1
                    state.feeds[topic] = Feed(id: state.nextFeedID, dispatched: lastSeqs[topic] ?? 0, reading: true)
                    reads.append((topic, state.nextFeedID))
                }
                state.feeds[topic]!.subscribers[ObjectIdentifier(inbox)] = inbox
                joinFrom[topic] = state.feeds[topic]!.dispatched
            }
            return (joinFrom, reads)
        }
        for read in reads { self.readRequests.yield(read) }
        return joinFrom
    }

    /// Removes `inbox` from `topics`' feeds; a feed without subscribers goes.
    func unregister(_ inbox: SubscriberInbox, topics: some Sequence<String>) {
        self.state.withLock { state in
            for topic in topics {
                state.feeds[topic]?.subscribers[ObjectIdentifier(inbox)] = nil
                if state.feeds[topic]?.subscribers.isEmpty == true { state.feeds[topic] = nil }
            }
        }
    }

    /// A notification says `topic` has committed up to `seq`.
    public func wake(topic: String, seq: Int64) {
        let read = self.state.withLock { state -> (String, Int)? in
            guard var feed = state.feeds[topic], seq > feed.dispatched else { return nil }
            defer { state.feeds[topic] = feed }
            if feed.reading {
                feed.wokenWhileReading = true
                return nil
            }
            feed.reading = true
            return (topic, feed.id)
        }
        if let read { self.readRequests.yield(read) }
    }

    /// Notifications this instance's publisher has just committed: each topic's are handed
    /// out at once, without waiting for their NOTIFY and reading them back, when they are
    /// exactly the next seqs of a feed that is not reading (its NOTIFY's wake then finds
    /// nothing new). Otherwise they are left to the NOTIFY's read, which orders them with
    /// what other instances committed. The fan-out runs in `runReads`, in commit order, off
    /// the publisher's task; at most `committedBacklog` batches wait for it (more are left
    /// to their NOTIFY too).
    public func deliverCommitted(_ notifications: [Notification]) {
        // No subscriber here for any of them: nothing to wake a task for.
        guard self.state.withLock({ state in notifications.contains { state.feeds[$0.topic] != nil } }) else { return }
        self.committedRequests.yield(notifications)
    }

    /// The most committed batches waiting for `runReads` to hand them out.
    static let committedBacklog = 1024

    private func handCommitted(_ notifications: [Notification]) {
        var byTopic: [String: [Notification]] = [:]
        for notification in notifications { byTopic[notification.topic, default: []].append(notification) }
        for (topic, list) in byTopic {
            let list = list.sorted { $0.seq < $1.seq }
            guard let first = list.first, let last = list.last, last.seq - first.seq == Int64(list.count - 1) else { continue }
            let taken = self.state.withLock { state -> (id: Int, rows: ArraySlice<Notification>, inboxes: [SubscriberInbox])? in
                // A read handing out right now, or a gap before these (another instance's
                // commits not read yet): their NOTIFY brings them.
                guard var feed = state.feeds[topic], !feed.handing, first.seq <= feed.dispatched + 1, last.seq > feed.dispatched
                else { return nil }
                defer { state.feeds[topic] = feed }
                let rows = list.drop { $0.seq <= feed.dispatched }
                feed.dispatched = last.seq
                feed.handing = true
                return (feed.id, rows, Array(feed.subscribers.values))
            }
            guard let taken else { continue }
            self.hand(taken.rows.map { EncodedNotification($0, forLiveDelivery: true) }, topic: topic, to: taken.inboxes)
            let read = self.state.withLock { state -> Bool in
                guard var feed = state.feeds[topic], feed.id == taken.id else { return false }
                defer { state.feeds[topic] = feed }
                feed.handing = false
                guard feed.readAfterHanding else { return false }
                feed.readAfterHanding = false
                return true
            }
            if read { self.readRequests.yield((topic, taken.id)) }
        }
    }

    /// Re-reads every topic that has advanced past what was handed out: after the LISTEN
    /// connection came back (notifications sent meanwhile are lost), and as a periodic
    /// safety net.
    public func refresh() async {
        let topics = self.state.withLock { Array($0.feeds.keys) }
        guard !topics.isEmpty else { return }
        do {
            for (topic, seq) in try await self.store.lastSeqs(of: topics) { self.wake(topic: topic, seq: seq) }
        } catch {
            self.logger.debug("refresh failed; the next one will retry", metadata: ["error": "\(error)"])
        }
    }

    /// Sends a heartbeat tick to every inbox that wants one. A subscription whose delivery
    /// is direct is not woken: its sink writes the keep-alive on its loop, through the
    /// loop's delivery queue a slice at a time (ten thousand subscriptions woken at once
    /// held a loop for tens of milliseconds every heartbeat).
    public func heartbeat() {
        let inboxes = self.state.withLock { state in
            var inboxes: [ObjectIdentifier: SubscriberInbox] = [:]
            for feed in state.feeds.values { inboxes.merge(feed.subscribers) { first, _ in first } }
            return inboxes
        }
        var byLoop = SinksByLoop()
        for inbox in inboxes.values where inbox.wantsHeartbeats {
            if let sink = inbox.heartbeat() { byLoop.add(sink) { $0.heartbeat() } }
        }
        for (loop, sinks) in byLoop.sinks.values {
            self.deliveryQueue(for: loop).enqueue(.heartbeat, sinks: sinks)
        }
    }

    /// Performs the reads the hub asks for, and hands out what this instance committed,
    /// until `finish()`; run it in the dispatcher.
    func runReads() async {
        await withDiscardingTaskGroup { group in
            group.addTask {
                for await notifications in self.committed { self.handCommitted(notifications) }
            }
            for await read in self.reads {
                group.addTask { await self.read(topic: read.topic, feed: read.feed) }
            }
        }
    }

    /// Ends `runReads()`.
    func finish() {
        self.readRequests.finish()
        self.committedRequests.finish()
    }

    /// Offers `batch` to every inbox; direct sinks get it grouped by event loop, through
    /// each loop's `LoopDeliveryQueue` (in the order of the offers, so each sink still gets
    /// a topic's batches in seq order, after anything its own task queued there).
    private func hand(_ batch: [EncodedNotification], topic: String, to inboxes: [SubscriberInbox]) {
        var byLoop = SinksByLoop()
        for inbox in inboxes {
            switch inbox.offer(batch, topic: topic) {
            case .queued:
                break
            case .overflowed:
                self.overflows.add(1, ordering: .relaxed)
                self.overflowCounter.increment()
            case .direct(let sink):
                byLoop.add(sink) { $0.write(batch, topic: topic) }
            }
        }
        for (loop, sinks) in byLoop.sinks.values {
            self.deliveryQueue(for: loop).enqueue(.notifications(batch, topic: topic), sinks: sinks)
        }
    }

    /// The delivery queue of `loop` (one per loop, kept for the hub's life).
    private func deliveryQueue(for loop: any EventLoop) -> LoopDeliveryQueue {
        self.deliveryQueues.withLock { queues in
            if let queue = queues[ObjectIdentifier(loop)] { return queue }
            let queue = LoopDeliveryQueue(loop: loop)
            queues[ObjectIdentifier(loop)] = queue
            return queue
        }
    }

    /// Reads a feed's new rows in pages and hands them to its subscribers, until nothing
    /// new is left (reading again if it was woken meanwhile).
    private func read(topic: String, feed id: Int) async {
        var failures = 0
        while true {
            guard let after = self.state.withLock({ state in state.feeds[topic].flatMap { $0.id == id ? $0.dispatched : nil } })
            else { return }
            let page: NotificationStore.Page
            do {
                page = try await self.store.read(topic: topic, after: after, limit: self.pageSize)
                failures = 0
            } catch {
                // The database is away: try again, slower and slower; the LISTEN
                // reconnection and the periodic refresh also bring the feed up to date.
                failures += 1
                self.logger.debug("feed read failed", metadata: ["topic": "\(topic)", "error": "\(error)"])
                try? await Task.sleep(for: .milliseconds(min(5000, 100 << min(failures, 6))))
                continue
            }
            // Rows this instance's commits handed out meanwhile are not handed out again.
            let taken = self.state.withLock { state -> (rows: ArraySlice<Notification>, inboxes: [SubscriberInbox])?? in
                guard var feed = state.feeds[topic], feed.id == id else { return .some(nil) }
                defer { state.feeds[topic] = feed }
                guard !feed.handing else {
                    // A hand-off of committed ones is under way: it starts this read again
                    // when it ends (the feed stays `reading`: one read at a time).
                    feed.readAfterHanding = true
                    return .none
                }
                let rows = page.notifications.drop { $0.seq <= feed.dispatched }
                guard let last = rows.last else { return (rows, []) }
                feed.dispatched = last.seq
                feed.handing = true
                return (rows, Array(feed.subscribers.values))
            }
            guard case .some(let taken) = taken else { return }  // read again after the hand-off
            guard let taken else { return }  // the feed is gone
            if !taken.rows.isEmpty {
                self.hand(taken.rows.map { EncodedNotification($0, forLiveDelivery: true) }, topic: topic, to: taken.inboxes)
            }
            // Only now may another read of this topic start: it must not hand out newer
            // rows before these.
            let again = self.state.withLock { state -> Bool in
                guard var feed = state.feeds[topic], feed.id == id else { return false }
                defer { state.feeds[topic] = feed }
                // Only a hand-off of its own: a committed one may have begun meanwhile.
                if !taken.rows.isEmpty { feed.handing = false }
                let again = !page.isLast || feed.wokenWhileReading
                feed.wokenWhileReading = false
                if !again { feed.reading = false }
                return again
            }
            if !again { return }
        }
    }
}
