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
            // Lines are found in the buffer itself; only a line split across reads is
            // copied. (A byte-at-a-time append to `self.line` cost this client 40 % of its
            // CPU in exclusivity checks, CPU the server under test then lacked.)
            var partial = self.line
            self.line = []
            buffer.withUnsafeReadableBytes { bytes in
                var start = 0
                while let newline = bytes[start...].firstIndex(of: 0x0A) {
                    if partial.isEmpty {
                        Self.endLine(UnsafeRawBufferPointer(rebasing: bytes[start..<newline]), stats: self.stats)
                    } else {
                        partial.append(contentsOf: bytes[start..<newline])
                        partial.withUnsafeBytes { Self.endLine($0, stats: self.stats) }
                        partial.removeAll(keepingCapacity: true)
                    }
                    start = newline + 1
                }
                partial.append(contentsOf: bytes[start...])
            }
            self.line = partial
        case .end:
            if self.mode != .keepAlive { context.close(promise: nil) }
        }
    }

    /// Counts a `data:` line as one delivery.
    private static func endLine(_ line: UnsafeRawBufferPointer, stats: DeliveryStats) {
        guard line.count > 5, line[0] == UInt8(ascii: "d"), line[1] == UInt8(ascii: "a"), line[2] == UInt8(ascii: "t"),
            line[3] == UInt8(ascii: "a"), line[4] == UInt8(ascii: ":")
        else { return }
        stats.delivered(in: line)
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
