import Synchronization

/// Wake-ups for waiters on topics, such as long-polls.
///
/// A waiter registers its topics *before* it reads, then waits; a wake-up for one of its
/// topics that arrives in between is kept, so it cannot be missed. The dispatcher wakes a
/// topic once per LISTEN notification, however many waiters it has, and wakes everyone
/// when the LISTEN connection was re-established (notifications may have been lost).
/// Waiting costs no database work.
public final class WakeSignals: Sendable {
    private enum Waiter {
        case registered
        case signaled
        case waiting(CheckedContinuation<Void, Never>)
    }

    private struct State {
        var byTopic: [String: Set<Int>] = [:]
        var waiters: [Int: (topics: [String], state: Waiter)] = [:]
        var nextID = 0
    }

    private let state = Mutex(State())

    /// Creates an empty registry.
    public init() {}

    /// The number of waiters parked in `wait` now (a long-poll counts here only after it
    /// has read once and found nothing).
    public var waitingCount: Int {
        self.state.withLock { state in
            state.waiters.values.count { waiter in
                if case .waiting = waiter.state { return true }
                return false
            }
        }
    }

    /// Registers a waiter for `topics`; call `wait` and then `unregister`.
    public func register(_ topics: [String]) -> Int {
        self.state.withLock { state in
            let id = state.nextID
            state.nextID += 1
            state.waiters[id] = (topics, .registered)
            for topic in topics { state.byTopic[topic, default: []].insert(id) }
            return id
        }
    }

    /// Removes a waiter.
    public func unregister(_ id: Int) {
        let continuation: CheckedContinuation<Void, Never>? = self.state.withLock { state in
            guard let waiter = state.waiters.removeValue(forKey: id) else { return nil }
            for topic in waiter.topics {
                state.byTopic[topic]?.remove(id)
                if state.byTopic[topic]?.isEmpty == true { state.byTopic[topic] = nil }
            }
            if case .waiting(let continuation) = waiter.state { return continuation }
            return nil
        }
        continuation?.resume()
    }

    /// Waits until the waiter is woken or `deadline` passes; returns whether it was woken.
    public func wait(_ id: Int, until deadline: ContinuousClock.Instant) async -> Bool {
        await withTaskGroup(of: Bool.self) { group in
            group.addTask { await self.waitForSignal(id) }
            group.addTask {
                try? await Task.sleep(until: deadline, clock: .continuous)
                return false
            }
            let first = await group.next() ?? false
            group.cancelAll()
            return first
        }
    }

    /// Wakes the waiters of `topic`.
    public func wake(topic: String) {
        let continuations = self.state.withLock { state -> [CheckedContinuation<Void, Never>] in
            guard let ids = state.byTopic[topic] else { return [] }
            return ids.compactMap { Self.signal(&state, id: $0) }
        }
        for continuation in continuations { continuation.resume() }
    }

    /// Wakes every waiter.
    public func wakeAll() {
        let continuations = self.state.withLock { state -> [CheckedContinuation<Void, Never>] in
            Array(state.waiters.keys).compactMap { Self.signal(&state, id: $0) }
        }
        for continuation in continuations { continuation.resume() }
    }

    private static func signal(_ state: inout State, id: Int) -> CheckedContinuation<Void, Never>? {
        guard let waiter = state.waiters[id] else { return nil }
        state.waiters[id]?.state = .signaled
        if case .waiting(let continuation) = waiter.state { return continuation }
        return nil
    }

    /// Returns true when signaled, false when cancelled first.
    private func waitForSignal(_ id: Int) async -> Bool {
        await withTaskCancellationHandler {
            await withCheckedContinuation { (continuation: CheckedContinuation<Void, Never>) in
                let resumeNow = self.state.withLock { state -> Bool in
                    guard let waiter = state.waiters[id], !Task.isCancelled else { return true }
                    switch waiter.state {
                    case .registered:
                        state.waiters[id]?.state = .waiting(continuation)
                        return false
                    case .signaled, .waiting:
                        return true
                    }
                }
                if resumeNow { continuation.resume() }
            }
            return self.state.withLock { state in
                if case .signaled = state.waiters[id]?.state { return true }
                return false
            }
        } onCancel: {
            let continuation: CheckedContinuation<Void, Never>? = self.state.withLock { state in
                guard case .waiting(let continuation) = state.waiters[id]?.state else { return nil }
                state.waiters[id]?.state = .registered
                return continuation
            }
            continuation?.resume()
        }
    }
}
