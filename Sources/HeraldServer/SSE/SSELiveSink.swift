import HeraldCore
import NIOCore

/// Writes a live SSE subscriber's notifications straight to its connection, on the
/// connection's event loop, without waking the subscription's task (see `LiveSink`).
///
/// When the socket is full it does not queue: it leaves direct delivery as an overflow and
/// the subscription catches up from PostgreSQL at the reader's pace (`LiveSinkState`).
final class SSELiveSink: StatefulLiveSink {
    let handler: FastPathHandler
    let loop: any EventLoop
    /// The positions, the inbox and the client's cursor.
    let state: LiveSinkState

    init(handler: FastPathHandler, loop: any EventLoop, cursors: (policy: CursorPolicy, client: String)?) {
        self.handler = handler
        self.loop = loop
        self.state = LiveSinkState(cursors: cursors)
    }

    /// The inbox to leave when writing is not possible.
    func attach(_ inbox: SubscriberInbox) {
        self.state.attach(inbox)
    }

    /// The connection's loop: the hub hands batches over there, in order with everything
    /// else this stream writes there.
    var eventLoop: (any EventLoop)? { self.loop }

    /// Writes a keep-alive comment (on the event loop) while delivering; a socket that is
    /// full needs none.
    func heartbeat() {
        guard self.state.isActive, self.handler.isWritable else { return }
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
        guard let taken = self.state.take(batch, topic: topic, for: self, writable: writable, shared: \.sseSingleTopicChunk)
        else { return }
        HeraldMetrics.delivered(taken.notificationCount, over: .sse)
        let buffer = taken.shared ?? SSEEncoding.encode(taken.events)
        self.handler.writeChunk(buffer, whenWritten: taken.whenWritten)
    }
}
