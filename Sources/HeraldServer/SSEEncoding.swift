import HeraldCore
import NIOCore

/// The Server-Sent Events form of a subscription's events.
enum SSEEncoding {
    /// One buffer for a batch (one chunk, one write): for each event its own `id:` line,
    /// then the bytes encoded once for every subscriber. Also returns the positions
    /// delivered, for the client's cursor.
    static func encode(_ events: [Subscription.Event]) -> (ByteBuffer, [(topic: String, seq: Int64)]) {
        var buffer = ByteBuffer()
        buffer.reserveCapacity(events.count * 64 + events.reduce(Self.chunkOverhead) { total, event in
            if case .notification(let encoded, _) = event { return total + encoded.sseEventAndData.readableBytes }
            return total + 128
        })
        let chunkStart = Self.beginChunk(&buffer)
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
        Self.endChunk(&buffer, from: chunkStart)
        return (buffer, delivered)
    }

    /// A keep-alive comment, as one chunk.
    static func keepAlive() -> ByteBuffer {
        Self.chunk { $0.writeStaticString(": keep-alive\n\n") }
    }

    /// `bytes` as one chunk.
    static func chunk(_ write: (inout ByteBuffer) -> Void) -> ByteBuffer {
        var buffer = ByteBuffer()
        let start = Self.beginChunk(&buffer)
        write(&buffer)
        Self.endChunk(&buffer, from: start)
        return buffer
    }

    // MARK: - Chunked framing
    //
    // Stream data is written already framed as an HTTP/1.1 chunk, below the HTTP encoder
    // (`FastPathHandler.writeChunk`): one buffer and one pass per write instead of three.
    // The size line has a fixed width (leading zeros are allowed by RFC 9112), so it can
    // be filled in after the data is written.

    static let chunkOverhead = 12

    private static func beginChunk(_ buffer: inout ByteBuffer) -> Int {
        let start = buffer.writerIndex
        buffer.writeStaticString("00000000\r\n")
        return start
    }

    private static func endChunk(_ buffer: inout ByteBuffer, from start: Int) {
        let size = buffer.writerIndex - start - 10
        buffer.writeStaticString("\r\n")
        let digits = Array("0123456789abcdef".utf8)
        for index in 0..<8 {
            buffer.setInteger(digits[(size >> ((7 - index) * 4)) & 0xF], at: start + index)
        }
    }
}
