import HeraldPostgres
import NIOCore
import Synchronization

/// What a `LiveSink` keeps while it delivers, and its one rule of taking a batch, for
/// every transport: the subscription's positions, the inbox to leave when the socket is
/// full, and the client whose cursor moves with each completed write.
///
/// A batch of one notification that is the very next of a subscriber's only topic is
/// written as the transport's shared bytes (the same buffer for every such subscriber,
/// made once per notification: `EncodedNotification.sseSingleTopicChunk` and
/// `webSocketSingleTopicFrame`); anything else becomes this subscriber's own events.
public final class LiveSinkState: Sendable {
    /// What the sink writes for a batch.
    public struct Taken {
        /// The transport's shared bytes of the one notification, when they apply; else nil
        /// and `events` holds what to encode.
        public var shared: ByteBuffer?
        /// The events to encode for this subscriber (empty when `shared` is set).
        public var events: [Subscription.Event]
        /// How many notifications (not resets) are written.
        public var notificationCount: Int
        /// What records the positions as the client's cursor once written, if it has a
        /// client id whose cursor moves with delivery.
        public var whenWritten: (@Sendable () -> Void)?
    }

    private struct State {
        var positions: Positions?
        weak var inbox: SubscriberInbox?
    }

    /// The client whose cursor moves with each completed write, if any.
    public let cursors: (policy: CursorPolicy, client: String)?
    private let state = Mutex(State())

    /// Creates the state of a sink whose writes move `cursors`' client's cursor (nil: none).
    public init(cursors: (policy: CursorPolicy, client: String)?) {
        self.cursors = cursors
    }

    /// The inbox to leave when writing is not possible.
    public func attach(_ inbox: SubscriberInbox) {
        self.state.withLock { $0.inbox = inbox }
    }

    /// Takes the subscription's positions (`LiveSink.activate`).
    public func activate(_ positions: Positions) {
        self.state.withLock { $0.positions = positions }
    }

    /// Gives the positions back (`LiveSink.deactivate`).
    public func deactivate() -> Positions? {
        self.state.withLock { state in
            defer { state.positions = nil }
            return state.positions
        }
    }

    /// Whether the sink is delivering.
    public var isActive: Bool { self.state.withLock { $0.positions != nil } }

    /// The positions while it delivers (`LiveSink.currentPositions`).
    public var positions: Positions? { self.state.withLock { $0.positions } }

    /// Takes `batch` of `topic` for `sink` and returns what to write, or nil when nothing
    /// is to be written: all of it was sent already, or the sink is not delivering, or
    /// (`writable` false: the socket is full, or the loop's queue was) it leaves direct
    /// delivery now and the subscription reads the batch again from PostgreSQL.
    /// `shared` gives the transport's shared bytes of a notification.
    public func take(
        _ batch: [EncodedNotification],
        topic: String,
        for sink: any LiveSink,
        writable: Bool,
        shared: (EncodedNotification) -> ByteBuffer?
    ) -> Taken? {
        guard let last = batch.last else { return nil }
        var taken = Taken(shared: nil, events: [], notificationCount: 0)
        var versions: [String: Int64] = [:]
        let outcome = self.state.withLock { state -> (leave: Positions?, inbox: SubscriberInbox?, active: Bool) in
            guard state.positions != nil else { return (nil, state.inbox, false) }
            guard writable else {
                defer { state.positions = nil }
                return (state.positions, state.inbox, false)
            }
            versions = state.positions!.versions
            // `state.positions!` is changed in place: a copy would copy its dictionaries.
            // The clock is read only when something in the batch can expire.
            let now = batch.contains { $0.notification.expiresAt != nil } ? PostgresTimestamp.now : nil
            if batch.count == 1, let bytes = shared(last), state.positions!.acceptAlone(last, now: now) {
                // The common case: the same bytes as every other subscriber of the topic.
                taken.shared = bytes
            } else {
                for encoded in batch { state.positions!.accept(encoded, now: now, into: &taken.events) }
            }
            return (nil, nil, true)
        }
        guard outcome.active else {
            // Not delivering (anymore): the batch is dropped and read again from the database.
            outcome.inbox?.leaveDirect(sink, positions: outcome.leave, overflowed: topic, through: last.seq)
            return nil
        }
        if taken.shared != nil {
            taken.notificationCount = 1
        } else {
            guard !taken.events.isEmpty else { return nil }
            taken.notificationCount = taken.events.count(where: \.isNotification)
        }
        if let (policy, client) = self.cursors {
            let delivered: [(topic: String, seq: Int64)] = taken.shared != nil ? [(last.topic, last.seq)] : taken.events.map(\.position)
            let marks = delivered.map { CursorMark(topic: $0.topic, seq: $0.seq, version: versions[$0.topic] ?? 0) }
            taken.whenWritten = { policy.delivered(client: client, marks) }
        }
        return taken
    }
}

/// A `LiveSink` that keeps its state in a `LiveSinkState`: its positions' bookkeeping
/// comes from there, the same for every transport.
public protocol StatefulLiveSink: LiveSink {
    /// The positions, the inbox and the client's cursor.
    var state: LiveSinkState { get }
}

extension StatefulLiveSink {
    /// Takes the subscription's positions.
    public func activate(_ positions: Positions) {
        self.state.activate(positions)
    }

    /// Gives the positions back.
    public func deactivate() -> Positions? {
        self.state.deactivate()
    }

    /// The positions while it delivers.
    public var currentPositions: Positions? { self.state.positions }
}
