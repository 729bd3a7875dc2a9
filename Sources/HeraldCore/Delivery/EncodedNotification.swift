#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif
import NIOCore

/// A notification encoded once for every transport; the same bytes go to every
/// subscriber (only the cursor, which is each subscriber's own, is added per subscriber).
public final class EncodedNotification: Sendable {
    /// The notification.
    public let notification: Notification
    /// Its JSON object.
    public let json: ByteBuffer
    /// The whole Server-Sent Event as a subscriber of this topic alone receives it, its
    /// `id:` the cursor `topic:seq`: `id: <topic>:<seq>\nevent: <event>\ndata: <json>\n\n`.
    public let sseEvent: ByteBuffer
    /// Its Server-Sent Events lines after the `id:` line (a slice of `sseEvent`), for a
    /// subscriber of several topics, whose `id:` is its own cursor:
    /// `event: <event>\ndata: <json>\n\n`.
    public let sseEventAndData: ByteBuffer
    /// `sseEvent` framed as one HTTP/1.1 chunk (`SSEChunk`): the same buffer is written to
    /// every live subscriber of this topic alone, with no per-subscriber encoding. Only made
    /// for live delivery; a catch-up page goes in one chunk per subscriber anyway.
    public let sseSingleTopicChunk: ByteBuffer?
    /// The WebSocket message as a subscriber of this topic alone receives it (its cursor is
    /// `topic:seq`), as a whole text frame (`WebSocketTextFrame`): the same buffer goes to
    /// every such live subscriber. Only made for live delivery.
    public let webSocketSingleTopicFrame: ByteBuffer?

    /// Encodes `notification`; `forLiveDelivery` also makes `sseSingleTopicChunk` and
    /// `webSocketSingleTopicFrame`.
    public convenience init(_ notification: Notification, forLiveDelivery: Bool = false) {
        var scratch: [UInt8] = []
        scratch.reserveCapacity(192 + notification.data.utf8.count)
        var buffer = ByteBuffer()
        buffer.reserveCapacity(Self.estimatedSize(of: notification))
        let layout = Self.writeSSEEvent(notification, scratch: &scratch, to: &buffer)
        self.init(notification, in: buffer, layout, forLiveDelivery: forLiveDelivery)
    }

    /// Encodes a page of notifications into one buffer, of which each one's bytes are
    /// slices: two allocations for the page instead of three for every notification (and
    /// one JSON scratch array). For catch-up pages, which are sent whole; a live batch is
    /// encoded one by one, as a slow subscriber's inbox may keep some of it for a while.
    public static func page(_ notifications: [Notification]) -> [EncodedNotification] {
        var scratch: [UInt8] = []
        scratch.reserveCapacity(1024)
        var buffer = ByteBuffer()
        buffer.reserveCapacity(notifications.reduce(0) { $0 + Self.estimatedSize(of: $1) })
        var layouts: [Layout] = []
        layouts.reserveCapacity(notifications.count)
        for notification in notifications {
            layouts.append(Self.writeSSEEvent(notification, scratch: &scratch, to: &buffer))
        }
        return zip(notifications, layouts).map { EncodedNotification($0, in: buffer, $1, forLiveDelivery: false) }
    }

    private init(_ notification: Notification, in buffer: ByteBuffer, _ layout: Layout, forLiveDelivery: Bool) {
        self.notification = notification
        let sse = buffer.getSlice(at: layout.start, length: layout.end - layout.start)!
        self.sseEvent = sse
        self.sseEventAndData = buffer.getSlice(at: layout.eventStart, length: layout.end - layout.eventStart)!
        self.json = layout.jsonCopy ?? buffer.getSlice(at: layout.jsonStart, length: layout.jsonLength)!
        guard forLiveDelivery else {
            self.sseSingleTopicChunk = nil
            self.webSocketSingleTopicFrame = nil
            return
        }
        self.sseSingleTopicChunk = SSEChunk.framed(capacity: sse.readableBytes) { $0.writeImmutableBuffer(sse) }
        let (json, cursor) = (self.json, Self.ownCursor(of: notification))
        self.webSocketSingleTopicFrame = WebSocketTextFrame.framed(capacity: json.readableBytes + cursor.utf8.count + 56) {
            Self.writeWebSocketMessage(json: json, cursor: cursor, to: &$0)
        }
    }

    /// Where a notification's bytes are in the buffer `writeSSEEvent` wrote them to.
    private struct Layout {
        var start: Int
        var eventStart: Int
        var jsonStart: Int
        var jsonLength: Int
        var end: Int
        /// The JSON, when the SSE bytes do not hold it as it is (it has line breaks).
        var jsonCopy: ByteBuffer?
    }

    /// About how many bytes a notification's SSE event takes (a little more, usually).
    private static func estimatedSize(of notification: Notification) -> Int {
        notification.data.utf8.count + 2 * (notification.topic.utf8.count + notification.event.utf8.count) + 160
    }

    /// Appends `notification`'s whole SSE event to `buffer`:
    /// `id: <topic>:<seq>\nevent: <event>\ndata: <json>\n\n`. Its JSON is made in
    /// `scratch` first.
    private static func writeSSEEvent(_ notification: Notification, scratch: inout [UInt8], to buffer: inout ByteBuffer) -> Layout {
        scratch.removeAll(keepingCapacity: true)
        notification.appendJSON(to: &scratch)
        let start = buffer.writerIndex
        buffer.writeStaticString("id: ")
        buffer.writeString(notification.topic)
        buffer.writeStaticString(":")
        buffer.writeString(String(notification.seq))
        buffer.writeStaticString("\n")
        let eventStart = buffer.writerIndex
        buffer.writeStaticString("event: ")
        buffer.writeString(notification.event)
        buffer.writeStaticString("\ndata: ")
        let jsonStart = buffer.writerIndex
        // On one line (nearly always) the JSON is there in the SSE bytes as it is: a slice.
        let isOneLine = Self.writeSSEData(scratch, to: &buffer)
        buffer.writeStaticString("\n\n")
        return Layout(
            start: start, eventStart: eventStart, jsonStart: jsonStart, jsonLength: scratch.count, end: buffer.writerIndex,
            jsonCopy: isOneLine ? nil : ByteBuffer(bytes: scratch)
        )
    }

    /// The WebSocket message of this notification with the subscriber's `cursor` after it
    /// (nil: its own `topic:seq`, a subscriber of this topic alone):
    /// `{"type":"notification","notification":{...},"cursor":"..."}`.
    public func webSocketMessage(cursor: String?) -> ByteBuffer {
        let cursor = cursor ?? Self.ownCursor(of: self.notification)
        var buffer = ByteBuffer()
        buffer.reserveCapacity(self.json.readableBytes + cursor.utf8.count + 56)
        Self.writeWebSocketMessage(json: self.json, cursor: cursor, to: &buffer)
        return buffer
    }

    private static func writeWebSocketMessage(json: ByteBuffer, cursor: String, to buffer: inout ByteBuffer) {
        buffer.writeStaticString(#"{"type":"notification","notification":"#)
        buffer.writeImmutableBuffer(json)
        buffer.writeStaticString(#","cursor":""#)
        // A cursor is topic names (no character JSON escapes), colons, digits and commas.
        buffer.writeString(cursor)
        buffer.writeStaticString(#""}"#)
    }

    /// Writes `json` as the value of SSE `data:` fields. Its data is the producer's bytes,
    /// which may hold line breaks (only as JSON whitespace): each starts another `data: `
    /// line, and the client joins the lines with "\n" (a CR or CRLF arrives as LF).
    /// Returns whether it went on one line, unchanged.
    static func writeSSEData(_ json: [UInt8], to buffer: inout ByteBuffer) -> Bool {
        // Nearly always one line: found with memchr, written in one copy.
        let hasLineBreak = json.withUnsafeBytes { bytes in
            guard let base = bytes.baseAddress else { return false }
            return memchr(base, Int32(UInt8(ascii: "\n")), bytes.count) != nil
                || memchr(base, Int32(UInt8(ascii: "\r")), bytes.count) != nil
        }
        guard hasLineBreak else {
            buffer.writeBytes(json)
            return true
        }
        var start = 0
        var index = 0
        while index < json.count {
            let byte = json[index]
            guard byte == UInt8(ascii: "\n") || byte == UInt8(ascii: "\r") else {
                index += 1
                continue
            }
            buffer.writeBytes(json[start..<index])
            buffer.writeStaticString("\ndata: ")
            index += byte == UInt8(ascii: "\r") && index + 1 < json.count && json[index + 1] == UInt8(ascii: "\n") ? 2 : 1
            start = index
        }
        buffer.writeBytes(json[start...])
        return false
    }

    /// A notification's own cursor, `topic:seq`: that of a subscriber of its topic alone.
    static func ownCursor(of notification: Notification) -> String {
        notification.topic + ":" + String(notification.seq)
    }

    /// The topic.
    public var topic: String { self.notification.topic }
    /// The seq.
    public var seq: Int64 { self.notification.seq }
}
