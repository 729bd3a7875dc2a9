import DequeModule
import Synchronization

/// A queue between a producing task and a consuming one, with timeouts for the consumer.
final class Mailbox<Element: Sendable>: Sendable {
    private struct State {
        var items: Deque<Element> = []
        var finished = false
        var waiter: CheckedContinuation<Void, Never>?
    }

    private let state = Mutex(State())

    func put(_ item: Element) {
        let waiter = self.state.withLock { state -> CheckedContinuation<Void, Never>? in
            state.items.append(item)
            defer { state.waiter = nil }
            return state.waiter
        }
        waiter?.resume()
    }

    func finish() {
        let waiter = self.state.withLock { state -> CheckedContinuation<Void, Never>? in
            state.finished = true
            defer { state.waiter = nil }
            return state.waiter
        }
        waiter?.resume()
    }

    var isFinished: Bool { self.state.withLock { $0.finished && $0.items.isEmpty } }

    var count: Int { self.state.withLock { $0.items.count } }

    /// The next element, or nil when finished, cancelled or after `timeout`.
    func take(timeout: Duration = .seconds(10)) async -> Element? {
        await withTaskCancellationHandler {
            await self.waitAndTake(timeout: timeout)
        } onCancel: {
            let waiter = self.state.withLock { state -> CheckedContinuation<Void, Never>? in
                defer { state.waiter = nil }
                return state.waiter
            }
            waiter?.resume()
        }
    }

    private func waitAndTake(timeout: Duration) async -> Element? {
        let deadline = ContinuousClock.now + timeout
        while !Task.isCancelled {
            let outcome: (Element?, Bool) = self.state.withLock { state in
                if let item = state.items.popFirst() { return (item, true) }
                return (nil, state.finished)
            }
            if let item = outcome.0 { return item }
            if outcome.1 || ContinuousClock.now >= deadline { return nil }
            let timer = Task {
                try? await Task.sleep(until: deadline, clock: .continuous)
                let waiter = self.state.withLock { state -> CheckedContinuation<Void, Never>? in
                    defer { state.waiter = nil }
                    return state.waiter
                }
                waiter?.resume()
            }
            await withCheckedContinuation { (continuation: CheckedContinuation<Void, Never>) in
                let ready = self.state.withLock { state -> Bool in
                    if !state.items.isEmpty || state.finished || ContinuousClock.now >= deadline || Task.isCancelled {
                        return true
                    }
                    state.waiter = continuation
                    return false
                }
                if ready { continuation.resume() }
            }
            timer.cancel()
        }
        return nil
    }
}
