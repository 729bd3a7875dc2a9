import NIOCore

/// HTTP/1.1 chunked framing for Server-Sent Events bodies.
///
/// Stream data is written already framed as a chunk, below the HTTP encoder: one buffer
/// and one pass per write instead of three. The size line has a fixed width (leading
/// zeros are allowed by RFC 9112), so it can be filled in after the data is written.
public enum SSEChunk {
    /// Bytes a chunk's framing adds: the size line and the closing CRLF.
    public static let overhead = 12
    /// Bytes of the size line: eight hexadecimal digits and CRLF.
    static let sizeLineLength = 10

    /// The last chunk, which ends the body.
    public static let last = ByteBuffer(staticString: "0\r\n\r\n")

    /// A buffer holding what `write` writes, as one chunk; `capacity` is a size hint.
    public static func framed(capacity: Int = 64, _ write: (inout ByteBuffer) -> Void) -> ByteBuffer {
        var buffer = ByteBufferAllocator().buffer(capacity: capacity + Self.overhead)
        let start = Self.begin(&buffer)
        write(&buffer)
        Self.end(&buffer, from: start)
        return buffer
    }

    /// Writes a placeholder size line; returns where it starts.
    public static func begin(_ buffer: inout ByteBuffer) -> Int {
        let start = buffer.writerIndex
        buffer.writeStaticString("00000000\r\n")
        return start
    }

    /// Ends the chunk begun at `start`: the closing CRLF, and its size in the size line.
    public static func end(_ buffer: inout ByteBuffer, from start: Int) {
        let size = buffer.writerIndex - start - Self.sizeLineLength
        buffer.writeStaticString("\r\n")
        for index in 0..<8 {
            let digit = UInt8(truncatingIfNeeded: (size >> ((7 - index) * 4)) & 0xF)
            buffer.setInteger(digit < 10 ? UInt8(ascii: "0") + digit : UInt8(ascii: "a") + digit - 10, at: start + index)
        }
    }
}

extension SSEChunk {
    /// The data of a buffer made by `framed` (or `begin`/`end`), without its chunk framing:
    /// for a transport that frames by itself (HTTP/2).
    public static func unframed(_ chunk: ByteBuffer) -> ByteBuffer {
        chunk.getSlice(at: chunk.readerIndex + Self.sizeLineLength, length: chunk.readableBytes - Self.overhead) ?? ByteBuffer()
    }
}
