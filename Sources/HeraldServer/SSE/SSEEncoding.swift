import HeraldCore
import NIOCore

/// The Server-Sent Events form of a subscription's events.
enum SSEEncoding {
    /// One buffer for a batch (one chunk, one write): for each event its own `id:` line,
    /// then the bytes encoded once for every subscriber. Also returns the positions
    /// delivered, for the client's cursor.
    static func encode(_ events: [Subscription.Event]) -> (ByteBuffer, [(topic: String, seq: Int64)]) {
        var buffer = ByteBuffer()
        buffer.reserveCapacity(events.count * 64 + events.reduce(SSEChunk.overhead) { total, event in
            if case .notification(let encoded, _) = event { return total + encoded.sseEventAndData.readableBytes }
            return total + 128
        })
        let chunkStart = SSEChunk.begin(&buffer)
        var delivered: [(topic: String, seq: Int64)] = []
        delivered.reserveCapacity(events.count)
        for event in events {
            switch event {
            case .notification(let encoded, let cursor):
                buffer.writeStaticString("id: ")
                buffer.writeString(cursor)
                buffer.writeStaticString("\n")
                buffer.writeImmutableBuffer(encoded.sseEventAndData)
                delivered.append((encoded.topic, encoded.seq))
            case .reset(let reset, let cursor):
                var bytes: [UInt8] = []
                reset.appendJSON(to: &bytes)
                buffer.writeStaticString("id: ")
                buffer.writeString(cursor)
                buffer.writeStaticString("\nevent: herald.reset\ndata: ")
                buffer.writeBytes(bytes)
                buffer.writeStaticString("\n\n")
                delivered.append((reset.topic, reset.resumedAfter))
            }
        }
        SSEChunk.end(&buffer, from: chunkStart)
        return (buffer, delivered)
    }

    /// A keep-alive comment, as one chunk.
    static func keepAlive() -> ByteBuffer {
        SSEChunk.framed { $0.writeStaticString(": keep-alive\n\n") }
    }
}
