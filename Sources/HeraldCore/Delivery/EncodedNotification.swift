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
    /// The whole event as a subscriber of this topic alone receives it (its `id:` is the
    /// cursor `topic:seq`), framed as one HTTP/1.1 chunk (`SSEChunk`): the same buffer is
    /// written to every such live subscriber, with no per-subscriber encoding. Only made for
    /// live delivery; a catch-up page is encoded per subscriber anyway.
    public let sseSingleTopicChunk: ByteBuffer?

    /// Encodes `notification`; `forLiveDelivery` also makes `sseSingleTopicChunk`.
    public init(_ notification: Notification, forLiveDelivery: Bool = false) {
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
        guard forLiveDelivery else {
            self.sseSingleTopicChunk = nil
            return
        }
        self.sseSingleTopicChunk = SSEChunk.framed(capacity: sse.readableBytes + notification.topic.utf8.count + 26) { buffer in
            buffer.writeStaticString("id: ")
            buffer.writeString(notification.topic)
            buffer.writeStaticString(":")
            buffer.writeString(String(notification.seq))
            buffer.writeStaticString("\n")
            buffer.writeImmutableBuffer(sse)
        }
    }

    /// The topic.
    public var topic: String { self.notification.topic }
    /// The seq.
    public var seq: Int64 { self.notification.seq }
}
