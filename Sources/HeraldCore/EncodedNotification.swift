import NIOCore

/// A notification encoded once for every transport; the same bytes go to every
/// subscriber (only the cursor, which is each subscriber's own, is added per subscriber).
public final class EncodedNotification: Sendable {
    /// The notification.
    public let notification: Notification
    /// Its JSON object.
    public let json: ByteBuffer
    /// Its Server-Sent Events lines after the `id:` line:
    /// `event: <event>\ndata: <json>\n\n`.
    public let sseEventAndData: ByteBuffer

    /// Encodes `notification`.
    public init(_ notification: Notification) {
        self.notification = notification
        var bytes: [UInt8] = []
        bytes.reserveCapacity(192 + notification.data.utf8.count)
        notification.appendJSON(to: &bytes)
        self.json = ByteBuffer(bytes: bytes)
        var sse = ByteBuffer()
        sse.reserveCapacity(bytes.count + notification.event.utf8.count + 16)
        sse.writeStaticString("event: ")
        sse.writeString(notification.event)
        sse.writeStaticString("\ndata: ")
        sse.writeBytes(bytes)
        sse.writeStaticString("\n\n")
        self.sseEventAndData = sse
    }

    /// The topic.
    public var topic: String { self.notification.topic }
    /// The seq.
    public var seq: Int64 { self.notification.seq }
}
