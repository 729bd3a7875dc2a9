import HeraldCore
import NIOCore

/// Writes a live WebSocket subscriber's notifications straight to its connection, on the
/// connection's event loop, without waking the session's task (see `LiveSink`): a
/// subscriber of one topic gets the whole frame encoded once for all of them
/// (`EncodedNotification.webSocketSingleTopicFrame`).
///
/// When the socket is full it does not queue: it leaves direct delivery as an overflow and
/// the subscription catches up from PostgreSQL at the reader's pace (`LiveSinkState`).
final class WebSocketLiveSink: StatefulLiveSink {
    let connection: WebSocketConnection
    let loop: any EventLoop
    /// The positions, the inbox and (with `ack=auto`) the client's cursor.
    let state: LiveSinkState

    init(connection: WebSocketConnection, loop: any EventLoop, cursors: (policy: CursorPolicy, client: String)?) {
        self.connection = connection
        self.loop = loop
        self.state = LiveSinkState(cursors: cursors)
    }

    /// The connection's loop: the hub hands batches over there, in order with everything
    /// else the session writes there.
    var eventLoop: (any EventLoop)? { self.loop }

    /// Nothing: the connection pings on a timer of its own, and its inbox asks the hub for
    /// no heartbeats.
    func heartbeat() {}

    /// The loop's delivery queue was full: leave, as when the socket is full (any thread).
    func dropped(_ batch: [EncodedNotification], topic: String) {
        self.write(batch, topic: topic, writable: false)
    }

    /// Writes a batch (on the event loop).
    func write(_ batch: [EncodedNotification], topic: String) {
        self.write(batch, topic: topic, writable: self.connection.isWritable)
    }

    private func write(_ batch: [EncodedNotification], topic: String, writable: Bool) {
        guard
            let taken = self.state.take(batch, topic: topic, for: self, writable: writable, shared: \.webSocketSingleTopicFrame)
        else { return }
        HeraldMetrics.delivered(taken.notificationCount, over: .websocket)
        if let frame = taken.shared {
            self.connection.sendFrame(frame, whenWritten: taken.whenWritten)
        } else {
            self.connection.send(WebSocketFrames.encode(taken.events), whenWritten: taken.whenWritten)
        }
    }
}
