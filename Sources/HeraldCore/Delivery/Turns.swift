import DequeModule
import Synchronization

/// At most `maximum` holders at once of something the instance shares, the others waiting
/// in order: a counting semaphore for tasks, whose turns are tokens (`Turn`). With a
/// `pause`, turns go in rounds: once `maximum` were taken and all have ended, the next
/// round starts `pause` later.
///
/// - `CatchUpReads` bounds the catch-up queries running at once with it.
/// - `Hub.pageTurns` paces the writing of catch-up pages, in rounds. Thousands of
///   subscriptions sharing a catch-up read all have their page at the same moment. A
///   SwiftNIO event loop runs its queued tasks until none is left before it reads its
///   sockets again, so if all of them handed their page to the loops at once, or even a
///   few at a time with each turn passed straight on, the loops would read nothing (no
///   publish, no request) until the whole storm was written. A subscription takes a turn
///   before it makes a page of history into events (`Subscription.next()`) and its
///   transport ends it once its event loop has written the page (before waiting for a slow
///   reader's socket); between rounds the loops' queues run dry and they read.
public final class Turns: Sendable {
    private struct State {
        /// Turns that can be taken in this round (without a pause: now).
        var available: Int
        /// Turns taken and not ended.
        var taken = 0
        var paused = false
        var waiting: Deque<CheckedContinuation<Void, Never>> = []
    }

    /// The most turns taken at once (and per round).
    public let maximum: Int
    /// The pause between rounds; without one, an ended turn passes straight to the next.
    public let pause: Duration?
    private let state: Mutex<State>

    /// Lets `maximum` (at least one) hold a turn at once; with a `pause`, in rounds.
    public init(maximum: Int, pause: Duration? = nil) {
        self.maximum = max(1, maximum)
        self.pause = pause
        self.state = Mutex(State(available: self.maximum))
    }

    /// Turns taken and not ended yet.
    public var taken: Int { self.state.withLock { $0.taken } }

    /// Turns that can be taken now without waiting.
    public var available: Int { self.state.withLock { $0.paused ? 0 : $0.available } }

    /// Waits for a turn, in the order asked. Turns come back from their holders, not on a
    /// timer: `Turn.end()`, or at the latest when the token is released.
    public func take() async -> Turn {
        await withCheckedContinuation { (continuation: CheckedContinuation<Void, Never>) in
            let now = self.state.withLock { state -> Bool in
                guard !state.paused, state.available > 0 else {
                    state.waiting.append(continuation)
                    return false
                }
                state.available -= 1
                state.taken += 1
                return true
            }
            if now { continuation.resume() }
        }
        return Turn(self)
    }

    /// A turn comes back: without a pause it passes to the longest waiting, if any; with
    /// one, the round ends once all its turns came back, and the next starts `pause` later.
    func giveBack() {
        guard let pause = self.pause else {
            let next = self.state.withLock { state -> CheckedContinuation<Void, Never>? in
                guard let next = state.waiting.popFirst() else {
                    state.available += 1
                    state.taken -= 1
                    return nil
                }
                return next  // the turn passes on
            }
            next?.resume()
            return
        }
        let roundOver = self.state.withLock { state -> Bool in
            state.taken -= 1
            guard state.available == 0, state.taken == 0, !state.paused else { return false }
            state.paused = true
            return true
        }
        guard roundOver else { return }
        Task {
            try? await Task.sleep(for: pause)
            self.startRound()
        }
    }

    /// Ends a pause: a new round's turns go to those waiting, in order.
    private func startRound() {
        let starting = self.state.withLock { state -> [CheckedContinuation<Void, Never>] in
            state.paused = false
            state.available = self.maximum
            var starting: [CheckedContinuation<Void, Never>] = []
            while state.available > 0, let next = state.waiting.popFirst() {
                state.available -= 1
                state.taken += 1
                starting.append(next)
            }
            return starting
        }
        for continuation in starting { continuation.resume() }
    }
}
