import ServiceLifecycle

/// Plain polling and long-polling, independent of HTTP.
///
/// A long-poll registers for wake-ups of its topics *before* it reads, so a notification
/// committed between the read and the wait still wakes it. While it waits it costs no
/// database work: only a LISTEN notification for one of its topics (or the LISTEN
/// connection coming back) makes it read again.
public struct Poller: Sendable {
    let policy: CursorPolicy
    let signals: WakeSignals

    /// Creates a poller; starts come from `policy`, and each request's `after` is
    /// acknowledged as the client's cursor.
    public init(policy: CursorPolicy, signals: WakeSignals) {
        self.policy = policy
        self.signals = signals
    }

    /// Answers a poll: at once when something is available or `wait` is zero, otherwise
    /// when something is committed for one of the topics or `wait` has passed.
    public func poll(_ request: PollRequest) async throws -> PollResult {
        let deadline = ContinuousClock.now + request.wait
        var start: CursorPolicy.Start? = nil
        var lastResult: PollResult? = nil
        while true {
            let waiter = request.wait > .zero ? self.signals.register(request.topics) : nil
            let result: PollResult
            do {
                if start == nil { start = try await self.startPositions(request) }
                result = try await self.read(request, from: start!.cursor, owed: start!.resets)
            } catch {
                if let waiter { self.signals.unregister(waiter) }
                // A failure after the first read (the database restarting while the request
                // waits) is not the client's answer: keep waiting until the deadline.
                guard let lastResult, ContinuousClock.now < deadline, !Task.isShuttingDownGracefully else { throw error }
                try? await Task.sleep(for: .milliseconds(200))
                if ContinuousClock.now >= deadline { return lastResult }
                continue
            }
            lastResult = result
            guard let waiter else { return result }
            if !result.notifications.isEmpty || !result.resets.isEmpty || ContinuousClock.now >= deadline {
                self.signals.unregister(waiter)
                return result
            }
            // On graceful shutdown a waiting long-poll answers at once, so the server can stop.
            let woken = await withGracefulShutdownHandler {
                await self.signals.wait(waiter, until: deadline)
            } onGracefulShutdown: {
                self.signals.unregister(waiter)
            }
            self.signals.unregister(waiter)
            if !woken && ContinuousClock.now >= deadline { return result }
            if Task.isCancelled || Task.isShuttingDownGracefully { return result }
        }
    }

    /// Where each topic starts (`CursorPolicy`); the request's `after` acknowledges.
    func startPositions(_ request: PollRequest) async throws -> CursorPolicy.Start {
        try await self.policy.start(topics: request.topics, explicit: request.after, client: request.client, acknowledging: true)
    }

    /// Reads what follows `positions`: at most `limit` notifications (and a page's bytes),
    /// oldest first across topics (each topic's share is a prefix of its log, so nothing is
    /// skipped). `owed` are the start's resets (an admin replay); a topic whose position is
    /// inside a purged range gets a `purged` reset and goes on after it.
    func read(_ request: PollRequest, from positions: Cursor, owed: [Reset] = []) async throws -> PollResult {
        let chosen = try await self.policy.store.poll(after: positions.positions, limit: request.limit)
        var cursor = positions
        var resets = owed
        var notifications: [Notification] = []
        notifications.reserveCapacity(chosen.count)
        for topic in request.topics {
            if let purged = self.policy.store.purges.reset(topic: topic, position: cursor[topic] ?? 0) {
                resets.append(purged)
                cursor[topic] = purged.resumedAfter
            }
            for notification in chosen where notification.topic == topic && notification.seq > cursor[topic] ?? 0 {
                let position = cursor[topic] ?? 0
                if let reset = Reset.gap(topic: topic, position: position, next: notification.seq) { resets.append(reset) }
                notifications.append(notification)
                cursor[topic] = notification.seq
            }
        }
        return PollResult(notifications: notifications, cursor: cursor, resets: resets)
    }
}
