import DequeModule
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
///   all of them. A read joins only one that has not started yet, so every
///   page a subscription gets was read after it asked for it (`Subscription.catchUp`
///   relies on that to tell expired history from history not read yet).
public final class CatchUpReads: Sendable {
    /// A page read, encoded for delivery.
    public struct Page: Sendable {
        /// The notifications, in seq order, each encoded once for every subscriber.
        public var notifications: [EncodedNotification]
        /// Whether they reach the end of what was committed (`NotificationStore.Page`).
        public var isLast: Bool
    }

    private struct Key: Hashable {
        var topic: String
        var after: Int64
        var limit: Int
    }

    private struct State {
        /// Reads waiting for their turn, which an identical read joins.
        var waitingReads: [Key: Task<Page, any Error>] = [:]
        var running = 0
        var turns: Deque<CheckedContinuation<Void, Never>> = []
    }

    let store: NotificationStore
    /// The most reads running at once.
    public let maximumConcurrent: Int
    private let state = Mutex(State())
    private let queries = Atomic<Int>(0)

    /// Reads through `store`, at most `maximumConcurrent` at once.
    public init(store: NotificationStore, maximumConcurrent: Int) {
        self.store = store
        self.maximumConcurrent = max(1, maximumConcurrent)
    }

    /// How many queries it has run (joined reads count once).
    public var queryCount: Int { self.queries.load(ordering: .relaxed) }

    /// Up to `limit` notifications of `topic` after `after`, read after this call began.
    public func read(topic: String, after: Int64, limit: Int) async throws -> Page {
        let key = Key(topic: topic, after: after, limit: limit)
        let read = self.state.withLock { state in
            if let waiting = state.waitingReads[key] { return waiting }
            let read = Task { try await self.perform(key) }
            state.waitingReads[key] = read
            return read
        }
        return try await read.value
    }

    private func perform(_ key: Key) async throws -> Page {
        await self.takeTurn(key)
        let page: NotificationStore.Page
        do {
            defer { self.endTurn() }
            self.queries.add(1, ordering: .relaxed)
            page = try await self.store.read(topic: key.topic, after: key.after, limit: key.limit)
        }
        return Page(notifications: page.notifications.map { EncodedNotification($0) }, isLast: page.isLast)
    }

    /// Waits until fewer than `maximumConcurrent` reads run; from then on the read no
    /// longer takes others in (they would get rows read before they asked).
    private func takeTurn(_ key: Key) async {
        await withCheckedContinuation { (continuation: CheckedContinuation<Void, Never>) in
            let now = self.state.withLock { state -> Bool in
                guard state.running < self.maximumConcurrent else {
                    state.turns.append(continuation)
                    return false
                }
                state.running += 1
                return true
            }
            if now { continuation.resume() }
        }
        self.state.withLock { $0.waitingReads[key] = nil }
    }

    /// Hands the turn to the next waiting read, if any.
    private func endTurn() {
        let next = self.state.withLock { state -> CheckedContinuation<Void, Never>? in
            guard let next = state.turns.popFirst() else {
                state.running -= 1
                return nil
            }
            return next  // `running` stays: the turn passes on
        }
        next?.resume()
    }
}
