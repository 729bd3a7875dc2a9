/// Plain polling and long-polling, independent of HTTP.
///
/// A long-poll registers for wake-ups of its topics *before* it reads, so a notification
/// committed between the read and the wait still wakes it. While it waits it costs no
/// database work: only a LISTEN notification for one of its topics (or the LISTEN
/// connection coming back) makes it read again.
public struct Poller: Sendable {
    let store: NotificationStore
    let signals: WakeSignals

    /// Creates a poller.
    public init(store: NotificationStore, signals: WakeSignals) {
        self.store = store
        self.signals = signals
    }

    /// Answers a poll: at once when something is available or `wait` is zero, otherwise
    /// when something is committed for one of the topics or `wait` has passed.
    public func poll(_ request: PollRequest) async throws -> PollResult {
        let deadline = ContinuousClock.now + request.wait
        var positions: Cursor? = nil
        while true {
            let waiter = request.wait > .zero ? self.signals.register(request.topics) : nil
            let result: PollResult
            do {
                if positions == nil { positions = try await self.startPositions(request) }
                result = try await self.read(request, from: positions!)
            } catch {
                if let waiter { self.signals.unregister(waiter) }
                throw error
            }
            guard let waiter else { return result }
            if !result.notifications.isEmpty || !result.resets.isEmpty || ContinuousClock.now >= deadline {
                self.signals.unregister(waiter)
                return result
            }
            let woken = await self.signals.wait(waiter, until: deadline)
            self.signals.unregister(waiter)
            if !woken && ContinuousClock.now >= deadline { return result }
            if Task.isCancelled { return result }
        }
    }

    /// Where each topic starts: the explicit cursor, else "now" (its current last seq).
    func startPositions(_ request: PollRequest) async throws -> Cursor {
        var cursor = Cursor()
        let missing = request.topics.filter { request.after[$0] == nil }
        let now = missing.isEmpty ? [:] : try await self.store.lastSeqs(of: missing)
        for topic in request.topics {
            cursor[topic] = request.after[topic] ?? now[topic] ?? 0
        }
        return cursor
    }

    /// Reads what follows `positions`: at most `limit` notifications, oldest first across
    /// topics (each topic's share is a prefix of its log, so nothing is skipped).
    func read(_ request: PollRequest, from positions: Cursor) async throws -> PollResult {
        let rows = try await self.store.read(after: positions.positions, limit: request.limit)
        let chosen = rows.count <= request.limit
            ? rows
            : Array(rows.sorted { ($0.createdAt, $0.topic, $0.seq) < ($1.createdAt, $1.topic, $1.seq) }.prefix(request.limit))
        var cursor = positions
        var resets: [Reset] = []
        var notifications: [Notification] = []
        notifications.reserveCapacity(chosen.count)
        for topic in request.topics {
            for notification in chosen where notification.topic == topic {
                let position = cursor[topic] ?? 0
                if let reset = Self.gap(topic: topic, position: position, next: notification.seq) { resets.append(reset) }
                notifications.append(notification)
                cursor[topic] = notification.seq
            }
        }
        return PollResult(notifications: notifications, cursor: cursor, resets: resets)
    }

    /// The reset owed when the next retained seq after `position` is not `position + 1`:
    /// the seqs between expired. Reading from the very beginning (`0`) owes none.
    static func gap(topic: String, position: Int64, next: Int64) -> Reset? {
        guard position > 0, next > position + 1 else { return nil }
        return Reset(topic: topic, requestedAfter: position, resumedAfter: next - 1, reason: .expired)
    }
}
