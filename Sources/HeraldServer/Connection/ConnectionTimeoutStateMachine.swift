import NIOCore

/// The time limits of one HTTP connection, as a value type without I/O: a request whose
/// head or body has not fully arrived within `requestTimeout` is cut off (408), and a
/// keep-alive connection idle for `idleTimeout` is closed. A connection answering a request
/// (a long-poll waiting, an event stream) is neither: the limits count only while Herald
/// waits for its client.
///
/// The machine is told what happens (`bytesArrived`, `requestHeadArrived`,
/// `requestEnded`, `responseEnded`, `stop`) and says when its limit falls due
/// (`deadline`); when a timer fires, `timerFired` decides. One timer is enough: events
/// only move the deadline, and a timer that fires early is rescheduled.
struct ConnectionTimeoutStateMachine {
    enum Phase: Equatable {
        /// No request in progress: the idle limit counts from `since`.
        case waiting(since: NIODeadline)
        /// Part of a request has arrived: the request limit counts from `since`.
        case receiving(since: NIODeadline)
        /// Every request has arrived; an answer is pending (no limit: the wait is Herald's).
        case answering
        /// A stream, an upgrade, or closed: no limits any more.
        case stopped
    }

    /// What a fired timer asks for.
    enum FiredAction: Equatable {
        /// Nothing: no limit runs.
        case none
        /// Fire again at this time.
        case schedule(NIODeadline)
        /// The request did not arrive in time: answer 408 and close.
        case requestTimedOut
        /// The connection was idle too long: close it.
        case idleTimedOut
    }

    let requestTimeout: TimeAmount
    let idleTimeout: TimeAmount
    private(set) var phase: Phase
    /// Requests fully received and not answered yet.
    private(set) var pendingResponses = 0

    init(requestTimeout: TimeAmount, idleTimeout: TimeAmount, now: NIODeadline) {
        self.requestTimeout = requestTimeout
        self.idleTimeout = idleTimeout
        self.phase = .waiting(since: now)
    }

    /// When the running limit falls due, if one runs.
    var deadline: NIODeadline? {
        switch self.phase {
        case .waiting(let since): since + self.idleTimeout
        case .receiving(let since): since + self.requestTimeout
        case .answering, .stopped: nil
        }
    }

    /// Bytes came in (a read completed). While waiting, they begin a request. (While
    /// answering they may be the rest of a request already counted, so the next head
    /// decides instead.)
    mutating func bytesArrived(now: NIODeadline) {
        if case .waiting = self.phase { self.phase = .receiving(since: now) }
    }

    /// A request's head was decoded.
    mutating func requestHeadArrived(now: NIODeadline) {
        switch self.phase {
        case .waiting, .answering: self.phase = .receiving(since: now)
        case .receiving, .stopped: break
        }
    }

    /// A request has fully arrived.
    mutating func requestEnded() {
        guard self.phase != .stopped else { return }
        self.pendingResponses += 1
        self.phase = .answering
    }

    /// A response was written to its end.
    mutating func responseEnded(now: NIODeadline) {
        guard self.phase != .stopped else { return }
        self.pendingResponses = max(0, self.pendingResponses - 1)
        if self.pendingResponses == 0, self.phase == .answering { self.phase = .waiting(since: now) }
    }

    /// The connection is no longer plain HTTP (upgraded) or closed.
    mutating func stop() {
        self.phase = .stopped
    }

    mutating func timerFired(now: NIODeadline) -> FiredAction {
        switch self.phase {
        case .waiting(let since):
            guard now >= since + self.idleTimeout else { return .schedule(since + self.idleTimeout) }
            self.phase = .stopped
            return .idleTimedOut
        case .receiving(let since):
            if self.pendingResponses > 0 {
                // The client sends its next request while an answer is pending, and Herald
                // may not be reading meanwhile: the time is Herald's, so the count restarts.
                self.phase = .receiving(since: now)
                return .schedule(now + self.requestTimeout)
            }
            guard now >= since + self.requestTimeout else { return .schedule(since + self.requestTimeout) }
            self.phase = .stopped
            return .requestTimedOut
        case .answering, .stopped:
            return .none
        }
    }
}
