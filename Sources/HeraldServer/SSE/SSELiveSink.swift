import HeraldCore
import HeraldPostgres
import NIOCore
import NIOHTTPTypes
import Synchronization

/// Writes a live SSE subscriber's notifications straight to its connection, on the
/// connection's event loop, without waking the subscription's task (see `LiveSink`).
///
/// When the socket is full it does not queue: it leaves direct delivery as an overflow and
/// the subscription catches up from PostgreSQL at the reader's pace.
final class SSELiveSink: LiveSink {
    private struct State {
        var positions: Positions?
        weak var inbox: SubscriberInbox?
    }

    let handler: FastPathHandler
    let loop: any EventLoop
    /// The client whose cursor moves with each completed write, if any.
    let cursors: (policy: CursorPolicy, client: String)?
    private let state = Mutex(State())

    init(handler: FastPathHandler, loop: any EventLoop, cursors: (policy: CursorPolicy, client: String)?) {
        self.handler = handler
        self.loop = loop
        self.cursors = cursors
    }

    /// The inbox to leave when writing is not possible.
    func attach(_ inbox: SubscriberInbox) {
        self.state.withLock { $0.inbox = inbox }
    }

    func activate(_ positions: Positions) {
        self.state.withLock { $0.positions = positions }
    }

    func deactivate() -> Positions? {
        self.state.withLock { state in
            defer { state.positions = nil }
            return state.positions
        }
    }

    /// The connection's loop: the hub hands batches over there, in order with everything
    /// else this stream writes there.
    var eventLoop: (any EventLoop)? { self.loop }

    /// Writes a keep-alive comment (on the event loop) while delivering; a socket that is
    /// full needs none.
    func heartbeat() {
        guard self.state.withLock({ $0.positions != nil }), self.handler.isWritable else { return }
        self.handler.writeChunk(Self.keepAlive)
    }

    /// The keep-alive chunk, the same bytes for every stream.
    private static let keepAlive = SSEEncoding.keepAlive()

    /// The loop's delivery queue was full: leave, as when the socket is full (any thread).
    func dropped(_ batch: [EncodedNotification], topic: String) {
        self.write(batch, topic: topic, writable: false)
    }

    /// Writes a batch (on the event loop).
    func write(_ batch: [EncodedNotification], topic: String) {
        self.write(batch, topic: topic, writable: self.handler.isWritable)
    }

    private func write(_ batch: [EncodedNotification], topic: String, writable: Bool) {
        guard let last = batch.last else { return }
        var events: [Subscription.Event] = []
        var sharedChunk: ByteBuffer?
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
            if batch.count == 1, let chunk = last.sseSingleTopicChunk, state.positions!.acceptAlone(last, now: now) {
                // The common case: the same bytes as every other subscriber of the topic.
                sharedChunk = chunk
            } else {
                for encoded in batch { state.positions!.accept(encoded, now: now, into: &events) }
            }
            return (nil, nil, true)
        }
        guard outcome.active else {
            // Not delivering (anymore): the batch is dropped and read again from the database.
            outcome.inbox?.leaveDirect(self, positions: outcome.leave, overflowed: topic, through: last.seq)
            return
        }
        if let sharedChunk {
            HeraldMetrics.delivered(1, over: .sse)
            self.handler.writeChunk(sharedChunk, whenWritten: self.recording([(last.topic, last.seq)], versions: versions))
            return
        }
        guard !events.isEmpty else { return }
        HeraldMetrics.delivered(SSEStream.notificationCount(events), over: .sse)
        let (buffer, delivered) = SSEEncoding.encode(events)
        self.handler.writeChunk(buffer, whenWritten: self.recording(delivered, versions: versions))
    }

    /// What records `positions` (on the cursor `versions` they are based on) as the
    /// client's once written, if it has a client id.
    private func recording(_ positions: [(topic: String, seq: Int64)], versions: [String: Int64]) -> (@Sendable () -> Void)? {
        guard let (policy, client) = self.cursors else { return nil }
        let marks = positions.map { CursorMark(topic: $0.topic, seq: $0.seq, version: versions[$0.topic] ?? 0) }
        return { policy.delivered(client: client, marks) }
    }
}
