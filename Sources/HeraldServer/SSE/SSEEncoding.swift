import HeraldCore
import NIOCore

/// The Server-Sent Events form of a subscription's events.
enum SSEEncoding {
    /// One buffer for a batch (one chunk, one write): for each event the bytes encoded once
    /// for every subscriber, after an `id:` line of its own where the cursor is not the
    /// notification's `topic:seq`.
    static func encode(_ events: [Subscription.Event]) -> ByteBuffer {
        var buffer = ByteBuffer()
        buffer.reserveCapacity(events.count * 64 + events.reduce(SSEChunk.overhead) { total, event in
            if case .notification(let encoded, _) = event { return total + encoded.sseEvent.readableBytes }
            return total + 128
        })
        let chunkStart = SSEChunk.begin(&buffer)
        for event in events {
            switch event {
            case .notification(let encoded, nil):
                buffer.writeImmutableBuffer(encoded.sseEvent)
            case .notification(let encoded, let cursor?):
                buffer.writeStaticString("id: ")
                buffer.writeString(cursor)
                buffer.writeStaticString("\n")
                buffer.writeImmutableBuffer(encoded.sseEventAndData)
            case .reset(let reset, let cursor):
                var bytes: [UInt8] = []
                reset.appendJSON(to: &bytes)
                buffer.writeStaticString("id: ")
                buffer.writeString(cursor)
                buffer.writeStaticString("\nevent: herald.reset\ndata: ")
                buffer.writeBytes(bytes)
                buffer.writeStaticString("\n\n")
            }
        }
        SSEChunk.end(&buffer, from: chunkStart)
        return buffer
    }

    /// A keep-alive comment, as one chunk.
    static func keepAlive() -> ByteBuffer {
        SSEChunk.framed { $0.writeStaticString(": keep-alive\n\n") }
    }
}
