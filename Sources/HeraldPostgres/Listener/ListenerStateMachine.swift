/// The life of a LISTEN connection, as a value type without I/O.
///
/// connecting → listening → (lost) → backing off → connecting → ... until stopped. Each
/// failed attempt doubles the wait before the next one, up to `maximumDelay`; a
/// successful connection starts the count again.
struct ListenerStateMachine {
    enum State: Equatable {
        case connecting(attempt: Int)
        case listening
        case backingOff(attempt: Int)
        case stopped
    }

    /// What the listener thread should do next.
    enum Action: Equatable {
        /// Open a connection and LISTEN.
        case connect
        /// Wait this many milliseconds, then call `backoffElapsed()`.
        case wait(milliseconds: Int)
        /// Close everything and end the thread.
        case stop
    }

    private(set) var state: State = .connecting(attempt: 0)
    let initialDelay: Int
    let maximumDelay: Int

    /// Creates the machine; delays are in milliseconds.
    init(initialDelay: Int = 100, maximumDelay: Int = 5000) {
        self.initialDelay = initialDelay
        self.maximumDelay = maximumDelay
    }

    var isListening: Bool { self.state == .listening }

    mutating func connected() {
        guard self.state != .stopped else { return }
        self.state = .listening
    }

    /// A connection attempt failed, or an established connection was lost.
    mutating func failed(jitter: Double = 1.0) -> Action {
        switch self.state {
        case .stopped:
            return .stop
        case .listening:
            // A lost connection is retried at once: it was working a moment ago.
            self.state = .connecting(attempt: 1)
            return .connect
        case .connecting(let attempt), .backingOff(let attempt):
            self.state = .backingOff(attempt: attempt)
            let exponent = min(attempt, 16)
            let delay = min(self.maximumDelay, self.initialDelay << exponent)
            return .wait(milliseconds: max(1, Int(Double(delay) * jitter)))
        }
    }

    mutating func backoffElapsed() -> Action {
        switch self.state {
        case .stopped:
            return .stop
        case .backingOff(let attempt):
            self.state = .connecting(attempt: attempt + 1)
            return .connect
        case .connecting, .listening:
            return .connect
        }
    }

    mutating func stop() -> Action {
        self.state = .stopped
        return .stop
    }
}
