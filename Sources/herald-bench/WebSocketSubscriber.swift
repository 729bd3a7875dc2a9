import Foundation
import NIOCore

/// A WebSocket subscriber on raw bytes: sends the upgrade request itself, then finds the
/// server's frames in each read buffer; each text or binary message whose payload carries
/// a send time counts as one delivery, pings are answered. Works against any server that
/// speaks WebSocket (Herald, Nchan).
///
/// Like `SSESubscriber` it looks at bytes where they arrived, with no object per message:
/// NIO's frame decoder made a `WebSocketFrame` (boxed to pass down the pipeline) for every
/// message, and on this two-core machine the client's CPU is the servers' to lose.
final class WebSocketSubscriber: ChannelInboundHandler, @unchecked Sendable {
    // @unchecked Sendable: NIO calls a handler only on its channel's event loop.
    typealias InboundIn = ByteBuffer
    typealias OutboundOut = ByteBuffer

    private enum State {
        /// The upgrade request is sent; its answer's head is not all here yet.
        case upgrading
        /// Upgraded: frames follow.
        case open
        case closed
    }

    let host: String
    let path: String
    let stats: DeliveryStats
    let ready: EventLoopPromise<Void>
    private var state = State.upgrading
    /// Bytes of a head or a frame that did not all arrive in one read.
    private var pending: ByteBuffer?
    /// The payload so far of a message sent in fragments.
    private var fragments: [UInt8] = []

    init(host: String, path: String, stats: DeliveryStats, ready: EventLoopPromise<Void>) {
        self.host = host
        self.path = path
        self.stats = stats
        self.ready = ready
    }

    /// Sets up `channel` to upgrade to WebSocket on `path`; `ready` succeeds once upgraded.
    static func configure(_ channel: any Channel, host: String, path: String, stats: DeliveryStats, ready: EventLoopPromise<Void>) throws {
        try channel.pipeline.syncOperations.addHandler(WebSocketSubscriber(host: host, path: path, stats: stats, ready: ready))
    }

    func channelActive(context: ChannelHandlerContext) {
        let request =
            "GET \(self.path) HTTP/1.1\r\nHost: \(self.host)\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
            + "Sec-WebSocket-Key: \(Data((0..<16).map { _ in UInt8.random(in: 0...255) }).base64EncodedString())\r\n"
            + "Sec-WebSocket-Version: 13\r\n\r\n"
        context.writeAndFlush(self.wrapOutboundOut(ByteBuffer(string: request)), promise: nil)
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        var buffer = self.unwrapInboundIn(data)
        if var pending = self.pending {
            pending.writeBuffer(&buffer)
            buffer = pending
            self.pending = nil
        }
        if case .upgrading = self.state, !self.readHead(&buffer, context: context) { return }
        while case .open = self.state, self.readFrame(&buffer, context: context) {}
        if case .open = self.state, buffer.readableBytes > 0 { self.pending = buffer }
    }

    /// Reads the upgrade's answer head; false while it has not all arrived (or was refused).
    private func readHead(_ buffer: inout ByteBuffer, context: ChannelHandlerContext) -> Bool {
        let end = buffer.withUnsafeReadableBytes { bytes -> Int? in
            guard bytes.count >= 4 else { return nil }
            for index in 0...(bytes.count - 4)
            where bytes[index] == 13 && bytes[index + 1] == 10 && bytes[index + 2] == 13 && bytes[index + 3] == 10 {
                return index + 4
            }
            return nil
        }
        guard let end else {
            self.pending = buffer
            return false
        }
        let head = buffer.readString(length: end) ?? ""
        guard head.hasPrefix("HTTP/1.1 101") else {
            self.state = .closed
            self.stats.failed += 1
            self.ready.fail(BenchError("WebSocket upgrade refused: \(head.prefix(12))"))
            context.close(promise: nil)
            return false
        }
        self.state = .open
        self.stats.connected += 1
        self.ready.succeed()
        return true
    }

    /// Reads one whole frame from `buffer`; false when none is all there.
    private func readFrame(_ buffer: inout ByteBuffer, context: ChannelHandlerContext) -> Bool {
        let start = buffer.readerIndex
        guard let first = buffer.getInteger(at: start, as: UInt8.self), let second = buffer.getInteger(at: start + 1, as: UInt8.self)
        else { return false }
        var header = 2
        var length = Int(second & 0x7F)
        if length == 126 {
            guard let extended = buffer.getInteger(at: start + 2, as: UInt16.self) else { return false }
            (header, length) = (4, Int(extended))
        } else if length == 127 {
            guard let extended = buffer.getInteger(at: start + 2, as: UInt64.self) else { return false }
            (header, length) = (10, Int(extended))
        }
        let maskAt = header
        if second & 0x80 != 0 { header += 4 }
        guard buffer.readableBytes >= header + length else { return false }
        let opcode = first & 0x0F
        let fin = first & 0x80 != 0
        let masked = second & 0x80 != 0
        buffer.withUnsafeReadableBytes { bytes in
            let payload = UnsafeRawBufferPointer(rebasing: bytes[header..<header + length])
            guard masked else { return self.handle(opcode: opcode, fin: fin, payload: payload, context: context) }
            // (A server does not mask; unmask anyway.)
            let unmasked = payload.enumerated().map { $0.element ^ bytes[maskAt + $0.offset % 4] }
            unmasked.withUnsafeBytes { self.handle(opcode: opcode, fin: fin, payload: $0, context: context) }
        }
        buffer.moveReaderIndex(forwardBy: header + length)
        return true
    }

    /// Acts on one frame.
    private func handle(opcode: UInt8, fin: Bool, payload: UnsafeRawBufferPointer, context: ChannelHandlerContext) {
        switch opcode {
        case 0x1, 0x2, 0x0:
            guard !fin || !self.fragments.isEmpty else { return self.stats.delivered(in: payload) }
            self.fragments.append(contentsOf: payload)
            if fin {
                self.fragments.withUnsafeBytes { self.stats.delivered(in: $0) }
                self.fragments.removeAll(keepingCapacity: true)
            }
        case 0x9:
            self.pong(Array(payload), context: context)
        case 0x8:
            self.state = .closed
            context.close(promise: nil)
        default:
            break
        }
    }

    /// Answers a ping: a masked pong frame (a client masks what it sends) with its payload.
    private func pong(_ payload: [UInt8], context: ChannelHandlerContext) {
        let mask = (0..<4).map { _ in UInt8.random(in: 0...255) }
        var frame = ByteBuffer()
        frame.writeInteger(UInt8(0x8A))
        frame.writeInteger(UInt8(0x80 | min(payload.count, 125)))
        frame.writeBytes(mask)
        frame.writeBytes(payload.prefix(125).enumerated().map { $0.element ^ mask[$0.offset % 4] })
        context.writeAndFlush(self.wrapOutboundOut(frame), promise: nil)
    }

    func channelInactive(context: ChannelHandlerContext) {
        self.stats.closed += 1
        if case .upgrading = self.state { self.ready.fail(BenchError("connection closed before the upgrade")) }
        self.state = .closed
    }

    func errorCaught(context: ChannelHandlerContext, error: any Error) {
        context.close(promise: nil)
    }
}
