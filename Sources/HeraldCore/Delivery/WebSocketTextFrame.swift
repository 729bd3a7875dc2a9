import NIOCore

/// A whole WebSocket text frame as a server sends it (RFC 6455 §5.2: FIN, opcode 1, no
/// mask, the payload's length), made once per notification for every live subscriber of
/// its topic alone, as `SSEChunk` frames SSE events: the connection writes the bytes past
/// NIO's frame encoder, with no per-subscriber header or frame value.
public enum WebSocketTextFrame {
    /// The frame of `payload`, with its header; `capacity` is a size hint.
    public static func framed(capacity: Int = 64, _ write: (inout ByteBuffer) -> Void) -> ByteBuffer {
        var payload = ByteBufferAllocator().buffer(capacity: capacity)
        write(&payload)
        let length = payload.readableBytes
        var frame = ByteBufferAllocator().buffer(capacity: length + 10)
        frame.writeInteger(UInt8(0x81))  // FIN, text
        if length < 126 {
            frame.writeInteger(UInt8(length))
        } else if length <= Int(UInt16.max) {
            frame.writeInteger(UInt8(126))
            frame.writeInteger(UInt16(length))
        } else {
            frame.writeInteger(UInt8(127))
            frame.writeInteger(UInt64(length))
        }
        frame.writeImmutableBuffer(payload)
        return frame
    }

    /// The payload of a frame made by `framed`.
    public static func payload(of frame: ByteBuffer) -> ByteBuffer? {
        guard let second = frame.getInteger(at: frame.readerIndex + 1, as: UInt8.self) else { return nil }
        let header = second < 126 ? 2 : second == 126 ? 4 : 10
        return frame.getSlice(at: frame.readerIndex + header, length: frame.readableBytes - header)
    }
}
