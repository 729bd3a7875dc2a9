import Foundation
import NIOCore
import NIOHTTP1

/// An SSE subscriber on raw NIO: sends the GET, then counts each `data:` line as one
/// delivery and reads the send time out of it. Works against any server that speaks
/// Server-Sent Events (Herald, Nchan).
final class SSESubscriber: ChannelInboundHandler, @unchecked Sendable {
    // @unchecked Sendable: NIO calls a handler only on its channel's event loop.
    typealias InboundIn = HTTPClientResponsePart
    typealias OutboundOut = HTTPClientRequestPart

    /// What the connection does.
    enum Mode {
        /// Subscribe, read the stream, close when it ends.
        case stream
        /// Send nothing; ready once connected.
        case connectOnly
        /// Send the GET, keep the connection open after the answer.
        case keepAlive
    }

    let path: String
    let host: String
    let stats: DeliveryStats
    let mode: Mode
    let onReady: EventLoopPromise<Void>
    private var line: [UInt8] = []
    private var ready = false

    init(host: String, path: String, stats: DeliveryStats, onReady: EventLoopPromise<Void>, mode: Mode = .stream) {
        self.mode = mode
        self.host = host
        self.path = path
        self.stats = stats
        self.onReady = onReady
    }

    func channelActive(context: ChannelHandlerContext) {
        if self.mode == .connectOnly {
            self.stats.connected += 1
            self.ready = true
            self.onReady.succeed()
            return
        }
        var head = HTTPRequestHead(version: .http1_1, method: .GET, uri: self.path)
        head.headers.add(name: "Host", value: self.host)
        head.headers.add(name: "Accept", value: "text/event-stream")
        context.write(self.wrapOutboundOut(.head(head)), promise: nil)
        context.writeAndFlush(self.wrapOutboundOut(.end(nil)), promise: nil)
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        switch self.unwrapInboundIn(data) {
        case .head(let head):
            if head.status == .ok {
                self.stats.connected += 1
                self.ready = true
                self.onReady.succeed()
            } else {
                self.stats.failed += 1
                self.onReady.fail(BenchError("subscribe answered \(head.status.code)"))
                context.close(promise: nil)
            }
        case .body(let buffer):
            buffer.withUnsafeReadableBytes { bytes in
                for byte in bytes {
                    if byte == 0x0A {
                        self.endLine()
                    } else {
                        self.line.append(byte)
                    }
                }
            }
        case .end:
            if self.mode != .keepAlive { context.close(promise: nil) }
        }
    }

    private func endLine() {
        defer { self.line.removeAll(keepingCapacity: true) }
        guard self.line.count > 5, self.line[0] == UInt8(ascii: "d"), self.line[1] == UInt8(ascii: "a"),
            self.line[2] == UInt8(ascii: "t"), self.line[3] == UInt8(ascii: "a"), self.line[4] == UInt8(ascii: ":")
        else { return }
        self.line.withUnsafeBytes { self.stats.delivered(in: $0) }
    }

    func channelInactive(context: ChannelHandlerContext) {
        self.stats.closed += 1
        if !self.ready { self.onReady.fail(BenchError("connection closed before the stream started")) }
    }

    func errorCaught(context: ChannelHandlerContext, error: any Error) {
        context.close(promise: nil)
    }
}

/// A failure of the benchmark itself.
struct BenchError: Error, CustomStringConvertible {
    var description: String
    init(_ description: String) { self.description = description }
}
