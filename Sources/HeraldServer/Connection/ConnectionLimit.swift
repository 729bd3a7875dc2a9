import HTTPTypes
import HeraldCore
import NIOCore
import Synchronization

/// `--max-connections`: how many connections the server keeps open at once. One beyond it
/// is answered `503 unavailable` and closed before any of its bytes are read, so the
/// connections already open are unaffected and the process never runs out of file
/// descriptors (which would fail its database connections too).
final class ConnectionLimit: Sendable {
    /// The most connections open at once.
    let maximum: Int
    private let open = Atomic<Int>(0)
    /// Refused connections still lingering (their answer being read by the client).
    private let lingering = Atomic<Int>(0)

    /// How long a refused connection is kept half-closed so its client reads the answer.
    static let linger = TimeAmount.milliseconds(500)
    /// The most refused connections kept lingering; beyond, they are closed at once.
    static let maximumLingering = 256

    init(maximum: Int) {
        self.maximum = maximum
    }

    /// The connections open now.
    var count: Int { self.open.load(ordering: .relaxed) }

    /// Counts `channel` in until it closes; false (and not counted) when the limit is reached.
    func admit(_ channel: any Channel) -> Bool {
        let (admitted, _) = self.open.wrappingAdd(1, ordering: .relaxed)
        guard admitted < self.maximum else {
            self.open.wrappingSubtract(1, ordering: .relaxed)
            return false
        }
        channel.closeFuture.whenComplete { _ in self.open.wrappingSubtract(1, ordering: .relaxed) }
        return true
    }

    /// Answers a connection beyond the limit with `503 unavailable` and closes it. The
    /// pipeline is still empty, so the bytes go straight to the socket.
    func refuse(_ channel: any Channel) {
        HeraldMetrics.refused(.maxConnections)
        let error = HeraldError(.unavailable, "the server has \(self.maximum) connections open, its most; retry shortly")
        let (head, body) = error.closingResponse
        var response = ByteBuffer()
        response.writeString("HTTP/1.1 \(head.status.code) \(head.status.reasonPhrase)\r\n")
        for field in head.headerFields { response.writeString("\(field.name.rawName): \(field.value)\r\n") }
        response.writeString("\r\n")
        response.writeImmutableBuffer(body)
        let (lingering, _) = self.lingering.wrappingAdd(1, ordering: .relaxed)
        guard lingering <= Self.maximumLingering else {
            self.lingering.wrappingSubtract(1, ordering: .relaxed)
            channel.writeAndFlush(response).whenComplete { _ in channel.close(promise: nil) }
            return
        }
        // Half-close and wait a moment before closing: closing with the client's request
        // unread would reset the connection, and the client might lose the answer.
        channel.writeAndFlush(response).whenComplete { _ in channel.close(mode: .output, promise: nil) }
        channel.eventLoop.scheduleTask(in: Self.linger) { channel.close(promise: nil) }
        channel.closeFuture.whenComplete { _ in self.lingering.wrappingSubtract(1, ordering: .relaxed) }
    }
}
