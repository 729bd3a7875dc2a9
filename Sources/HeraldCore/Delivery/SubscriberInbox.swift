import DequeModule
import Synchronization

/// The bounded inbox of one subscription: notifications the hub hands it, messages its
/// transport posts to it, heartbeat ticks, and closing.
///
/// Notifications take at most `capacity` places. When a topic's notifications would not
/// fit (the subscriber reads slower than they come), the inbox drops that topic's queued
/// notifications and remembers the highest seq it dropped; the subscription then catches
/// up on that topic from PostgreSQL, page by page at its own pace, and rejoins. So one
/// slow subscriber neither slows the hub nor holds more than `capacity` entries.
public final class SubscriberInbox: Sendable {
    /// What the subscription takes out.
    public enum Item: Sendable {
        /// Notifications, in the order the hub handed them.
        case notifications([EncodedNotification])
        /// These topics overflowed; each seq is the highest dropped. When the overflow
        /// ended direct delivery, the sink's positions come back with it.
        case overflowed([String: Int64], returned: Positions?)
        /// Something the transport posted.
        case message(any Sendable)
        /// Time for a keep-alive.
        case heartbeat
        /// The inbox is closed.
        case closed
    }

    /// Who waits for what the inbox gets next.
    private enum Waiter {
        /// The subscription's task, suspended in `take()`.
        case task(CheckedContinuation<Void, Never>)
        /// No task: the driver starts one (`park`).
        case parked(SubscriptionDriver)

        func wake() {
            switch self {
            case .task(let continuation): continuation.resume()
            case .parked(let driver): driver.resume()
            }
        }
    }

    private struct State {
        var notifications: Deque<EncodedNotification> = []
        var overflowed: [String: Int64] = [:]
        var messages: Deque<any Sendable> = []
        var heartbeatDue = false
        var isClosed = false
        var waiter: Waiter?
        /// Where live notifications go while delivery is direct.
        var sink: (any LiveSink)?
        /// Positions a sink handed back when it left.
        var returned: Positions?
        /// Per topic, the highest seq handed to the sink: what it was sent may still be
        /// on its way to its thread when it leaves.
        var sentToSink: [String: Int64] = [:]

        /// Whether `take()` has something to return now.
        var isReady: Bool {
            self.isClosed || !self.overflowed.isEmpty || !self.messages.isEmpty || !self.notifications.isEmpty
                || self.heartbeatDue
        }
    }

    /// The most notifications it holds.
    public let capacity: Int
    /// Whether its transport sends keep-alives on the hub's heartbeat (a WebSocket pings on
    /// a timer of its own instead).
    public let wantsHeartbeats: Bool
    private let state = Mutex(State())

    /// Creates an inbox for at most `capacity` notifications.
    public init(capacity: Int = 512, wantsHeartbeats: Bool = true) {
        self.capacity = capacity
        self.wantsHeartbeats = wantsHeartbeats
    }

    /// What became of an offer.
    enum Offered {
        /// Queued for the subscription (or dropped: the inbox is closed).
        case queued
        /// Did not fit: the subscriber will catch up from the database.
        case overflowed
        /// Delivery is direct: the caller hands the batch to this sink (`LiveSink.write`).
        case direct(any LiveSink)
    }

    /// Hands over a topic's next notifications (called in seq order per topic).
    func offer(_ batch: [EncodedNotification], topic: String) -> Offered {
        guard let last = batch.last else { return .queued }
        var offered = Offered.queued
        self.wake { state in
            guard !state.isClosed else { return false }
            if let direct = state.sink {
                offered = .direct(direct)
                state.sentToSink[topic] = max(state.sentToSink[topic] ?? 0, last.seq)
                return false
            }
            if state.notifications.count + batch.count > self.capacity {
                state.notifications.removeAll { $0.topic == topic }
                state.overflowed[topic] = max(state.overflowed[topic] ?? 0, last.seq)
                offered = .overflowed
            } else {
                state.notifications.append(contentsOf: batch)
            }
            return true
        }
        return offered
    }

    /// Hands live delivery to `sink` with `positions`, if nothing is queued or pending;
    /// returns whether it did. The caller then waits in `take()` for what the sink cannot
    /// do: heartbeats, messages, closing, or its leaving.
    func enterDirect(_ sink: any LiveSink, positions: Positions) -> Bool {
        self.state.withLock { state in
            guard !state.isClosed, state.sink == nil, state.notifications.isEmpty, state.overflowed.isEmpty,
                state.messages.isEmpty, !state.heartbeatDue
            else { return false }
            sink.activate(positions)
            state.sink = sink
            return true
        }
    }

    /// Ends direct delivery because the sink could not write `batch` of `topic` (dropped,
    /// to be read again from PostgreSQL); `positions` go back to the subscription.
    /// A sink that already left just records the overflow.
    ///
    /// Everything handed to the sink counts as dropped, not just this batch: batches sent
    /// before it left may reach it only after the subscription has moved on, and are then
    /// ignored; the subscription reads them from PostgreSQL instead.
    public func leaveDirect(_ sink: any LiveSink, positions: Positions?, overflowed topic: String, through seq: Int64) {
        self.wake { state in
            if state.sink === sink {
                state.sink = nil
                state.returned = positions
                for (sentTopic, sentSeq) in state.sentToSink {
                    state.overflowed[sentTopic] = max(state.overflowed[sentTopic] ?? 0, sentSeq)
                }
                state.sentToSink = [:]
            }
            state.overflowed[topic] = max(state.overflowed[topic] ?? 0, seq)
            return true
        }
    }

    /// Ends direct delivery on the subscription's own account (an admin replay moves one of
    /// its positions) and returns the sink's positions. What was handed to the sink counts
    /// as dropped, as in `leaveDirect`. A sink that left on its own already handed its
    /// positions back with its overflow notice: they are returned now instead.
    func reclaimDirect(_ sink: any LiveSink) -> Positions? {
        self.state.withLock { state in
            guard state.sink === sink else {
                defer { state.returned = nil }
                return state.returned
            }
            state.sink = nil
            for (sentTopic, sentSeq) in state.sentToSink {
                state.overflowed[sentTopic] = max(state.overflowed[sentTopic] ?? 0, sentSeq)
            }
            state.sentToSink = [:]
            return sink.deactivate()
        }
    }

    /// Whether `sink` is delivering for this inbox.
    public func isDirect(_ sink: any LiveSink) -> Bool {
        self.state.withLock { $0.sink === sink }
    }

    /// Posts a message for the subscription's owner (commands of its transport).
    public func post(_ message: any Sendable) {
        self.wake { state in
            guard !state.isClosed else { return false }
            state.messages.append(message)
            return true
        }
    }

    /// Asks for a keep-alive. While delivery is direct, returns the sink, which the caller
    /// has write it (`LiveSink.heartbeat`) without waking the subscription; otherwise the
    /// subscription takes a `.heartbeat` at the next opportunity.
    @discardableResult
    public func heartbeat() -> (any LiveSink)? {
        var direct: (any LiveSink)? = nil
        self.wake { state in
            guard !state.isClosed else { return false }
            if let sink = state.sink {
                direct = sink
                return false
            }
            state.heartbeatDue = true
            return true
        }
        return direct
    }

    /// Closes the inbox; the next `take` returns `.closed`.
    public func close() {
        self.wake { state in
            state.isClosed = true
            state.sink = nil
            state.notifications.removeAll()
            return true
        }
    }

    /// Whether it is closed.
    public var isClosed: Bool { self.state.withLock { $0.isClosed } }

    /// Takes what is there, waiting until something is: overflow notices first, then
    /// posted messages, then notifications (all of them), then a heartbeat.
    func take() async -> Item {
        while true {
            if let item = self.poll(topics: nil) { return item }
            await withCheckedContinuation { (continuation: CheckedContinuation<Void, Never>) in
                let resumeNow = self.state.withLock { state -> Bool in
                    if !state.isReady { state.waiter = .task(continuation) }
                    return state.isReady
                }
                if resumeNow { continuation.resume() }
            }
        }
    }

    /// Instead of `take()`: if nothing is there, `driver` waits in place of a task, and
    /// resumes (starting a task) once something comes; returns whether it waits. After
    /// `true`, the caller's task leaves the subscription alone: the driver's next task may
    /// already run.
    func park(_ driver: SubscriptionDriver) -> Bool {
        self.state.withLock { state in
            guard !state.isReady else { return false }
            state.waiter = .parked(driver)
            return true
        }
    }

    /// Whether a driver waits in place of a task (`park`).
    var isParked: Bool {
        self.state.withLock { state in
            if case .parked = state.waiter { true } else { false }
        }
    }

    /// Takes what is there without waiting; with `topics`, only those topics'
    /// notifications (the others stay queued, still bounded).
    func poll(topics: Set<String>?) -> Item? {
        self.state.withLock { state in
            if state.isClosed { return .closed }
            if !state.overflowed.isEmpty {
                defer {
                    state.overflowed = [:]
                    state.returned = nil
                }
                return .overflowed(state.overflowed, returned: state.returned)
            }
            if let message = state.messages.popFirst() { return .message(message) }
            if !state.notifications.isEmpty {
                guard let topics else {
                    defer { state.notifications.removeAll(keepingCapacity: false) }
                    return .notifications(Array(state.notifications))
                }
                var taken: [EncodedNotification] = []
                var kept: Deque<EncodedNotification> = []
                for entry in state.notifications {
                    if topics.contains(entry.topic) { taken.append(entry) } else { kept.append(entry) }
                }
                if !taken.isEmpty {
                    state.notifications = kept
                    return .notifications(taken)
                }
            }
            if state.heartbeatDue {
                state.heartbeatDue = false
                return .heartbeat
            }
            return nil
        }
    }

    /// Drops the queued notifications of `topic` (it was unsubscribed).
    func discard(topic: String) {
        self.state.withLock { state in
            state.notifications.removeAll { $0.topic == topic }
            state.overflowed[topic] = nil
        }
    }

    /// Applies `change` and wakes the waiting taker if it changed something.
    private func wake(_ change: (inout State) -> Bool) {
        let waiter = self.state.withLock { state -> Waiter? in
            guard change(&state) else { return nil }
            defer { state.waiter = nil }
            return state.waiter
        }
        waiter?.wake()
    }
}
