import DequeModule
import NIOCore
import Synchronization

/// The catch-up reads of every subscription of an instance, in one place, so that a
/// connect storm (thousands of subscribers arriving at once, each reading what it missed)
/// cannot take the database pool from live delivery.
///
/// - At most `maximumConcurrent` reads run at once; the others wait their turn, in order.
///   The hub's live reads, cursors and polls take the rest of the pool, so they always
///   find a connection within about one query's time.
/// - Identical reads (topic, position, page size) share one query while they wait for
///   their turn: subscribers resuming from the same place, or all from the start, cost one
///   read per page, not one each, and each notification of the page is encoded once for
///   all of them. A read joins only one that has not started yet, so every page that is
///   not full (`isLast`) was read after its reader asked for it (`Subscription.catchUp`
///   relies on that to tell expired history from history not read yet).
/// - A full page is kept for `keptFor` (at most `maximumKeptBytes` of them) and given to
///   identical reads that come later: the subscribers of a storm get their pages at
///   different moments once `Hub.pageTurns` spaces out their writing, and would otherwise
///   each read the pages after the first themselves. A full page does not change once
///   committed, so a kept one is as good as a fresh one, as a prefetched page is (an
///   admin's purge meanwhile is applied by `Subscription.catchUp` after any read).
public final class CatchUpReads: Sendable {
    /// A page read, encoded for delivery.
    public struct Page: Sendable {
        /// The notifications, in seq order, each encoded once for every subscriber.
        public var notifications: [EncodedNotification]
        /// Whether they reach the end of what was committed (`NotificationStore.Page`).
        public var isLast: Bool
    }

    fileprivate struct Key: Hashable {
        var topic: String
        var after: Int64
        var limit: Int
    }

    fileprivate struct Kept {
        var page: Page
        var bytes: Int
        var until: ContinuousClock.Instant
    }

    fileprivate struct State {
        /// Reads waiting for their turn, which an identical read joins.
        var waitingReads: [Key: Task<Page, any Error>] = [:]
        /// Full pages read lately, oldest first in `keptOrder`.
        var kept: [Key: Kept] = [:]
        var keptOrder: Deque<Key> = []
        var keptBytes = 0
    }

    let store: NotificationStore
    private let turns: Turns
    private let state = Mutex(State())
    private let queries = Atomic<Int>(0)
    /// How long a full page is kept for later identical reads.
    static let keptFor: Duration = .seconds(5)
    /// The most bytes of encoded notifications kept.
    static let maximumKeptBytes = 16 << 20

    /// Reads through `store`, at most `maximumConcurrent` at once.
    public init(store: NotificationStore, maximumConcurrent: Int) {
        self.store = store
        self.turns = Turns(maximum: maximumConcurrent)
    }

    /// The most reads running at once.
    public var maximumConcurrent: Int { self.turns.maximum }

    /// How many queries it has run (joined reads and kept pages count once).
    public var queryCount: Int { self.queries.load(ordering: .relaxed) }

    /// Up to `limit` notifications of `topic` after `after`; unless the page is full, read
    /// after this call began.
    public func read(topic: String, after: Int64, limit: Int) async throws -> Page {
        try await self.start(topic: topic, after: after, limit: limit).value
    }

    /// `read(topic:after:limit:)`, started (or joined) now and awaited later. The task may
    /// be shared with other readers: do not cancel it.
    public func start(topic: String, after: Int64, limit: Int) -> Task<Page, any Error> {
        let key = Key(topic: topic, after: after, limit: limit)
        let kept = self.state.withLock { state -> Page? in
            state.dropKept(before: ContinuousClock.now, making: 0)
            return state.kept[key]?.page
        }
        if let kept { return Task { kept } }
        return self.state.withLock { state in
            if let waiting = state.waitingReads[key] { return waiting }
            let read = Task { try await self.perform(key) }
            state.waitingReads[key] = read
            return read
        }
    }

    private func perform(_ key: Key) async throws -> Page {
        let turn = await self.turns.take()
        // From now on the read takes no one else in: they would get rows read before they asked.
        self.state.withLock { _ = $0.waitingReads.removeValue(forKey: key) }
        let read: NotificationStore.Page
        do {
            defer { turn.end() }
            self.queries.add(1, ordering: .relaxed)
            read = try await self.store.read(topic: key.topic, after: key.after, limit: key.limit)
        }
        let page = Page(notifications: EncodedNotification.page(read.notifications), isLast: read.isLast)
        if !page.isLast { self.keep(page, key: key) }
        return page
    }

    /// Keeps a full page for `keptFor`.
    private func keep(_ page: Page, key: Key) {
        // (A one-line JSON shares its SSE buffer's storage: counted twice, on the safe side.)
        let bytes = page.notifications.reduce(0) { $0 + $1.json.readableBytes + $1.sseEvent.readableBytes }
        guard bytes <= Self.maximumKeptBytes else { return }
        let now = ContinuousClock.now
        self.state.withLock { state in
            guard state.kept[key] == nil else { return }
            state.dropKept(before: now, making: bytes)
            state.kept[key] = Kept(page: page, bytes: bytes, until: now + Self.keptFor)
            state.keptOrder.append(key)
            state.keptBytes += bytes
        }
    }
}

extension CatchUpReads.State {
    /// Drops kept pages, oldest first, while they expired by `now` or `room` more bytes
    /// would not fit.
    mutating func dropKept(before now: ContinuousClock.Instant, making room: Int) {
        while let oldest = self.keptOrder.first,
            self.keptBytes + room > CatchUpReads.maximumKeptBytes || (self.kept[oldest]?.until ?? now) <= now
        {
            self.keptOrder.removeFirst()
            self.keptBytes -= self.kept.removeValue(forKey: oldest)?.bytes ?? 0
        }
    }
}
