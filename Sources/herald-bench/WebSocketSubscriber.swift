import Foundation
import NIOCore
import NIOHTTP1
import NIOWebSocket

/// A WebSocket subscriber on raw NIO: each text frame whose payload carries a send time
/// counts as one delivery; pings are answered.
final class WebSocketSubscriber: ChannelInboundHandler, @unchecked Sendable {
    // @unchecked Sendable: NIO calls a handler only on its channel's event loop.
    typealias InboundIn = WebSocketFrame
    typealias OutboundOut = WebSocketFrame

    let stats: DeliveryStats

    init(stats: DeliveryStats) {
        self.stats = stats
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        let frame = self.unwrapInboundIn(data)
        switch frame.opcode {
        case .text, .binary:
            frame.unmaskedData.withUnsafeReadableBytes { self.stats.delivered(in: $0) }
        case .ping:
            let pong = WebSocketFrame(fin: true, opcode: .pong, maskKey: .random(), data: frame.unmaskedData)
            context.writeAndFlush(self.wrapOutboundOut(pong), promise: nil)
        case .connectionClose:
            context.close(promise: nil)
        default:
            break
        }
    }

    func channelInactive(context: ChannelHandlerContext) {
        self.stats.closed += 1
    }

    /// Sets up `channel` to upgrade to WebSocket on `path`; `ready` succeeds once upgraded.
    static func configure(
        _ channel: any Channel,
        host: String,
        path: String,
        stats: DeliveryStats,
        ready: EventLoopPromise<Void>
    ) throws {
        let requester = UpgradeRequester(host: host, path: path, stats: stats, ready: ready)
        let upgrader = NIOWebSocketClientUpgrader(maxFrameSize: 1 << 20) { channel, _ in
            // The requester's job is done; WebSocket frames go to the subscriber.
            channel.pipeline.syncOperations.removeHandler(requester).flatMapThrowing {
                stats.connected += 1
                try channel.pipeline.syncOperations.addHandler(WebSocketSubscriber(stats: stats))
                ready.succeed()
            }
        }
        try channel.pipeline.syncOperations.addHTTPClientHandlers(
            withClientUpgrade: (upgraders: [upgrader], completionHandler: { _ in })
        )
        try channel.pipeline.syncOperations.addHandler(requester)
    }
}

/// Sends the upgrade request when the connection opens, and fails `ready` if it is refused.
final class UpgradeRequester: ChannelInboundHandler, RemovableChannelHandler, @unchecked Sendable {
    // @unchecked Sendable: NIO calls a handler only on its channel's event loop.
    typealias InboundIn = HTTPClientResponsePart
    typealias OutboundOut = HTTPClientRequestPart

    let host: String
    let path: String
    let stats: DeliveryStats
    let ready: EventLoopPromise<Void>

    init(host: String, path: String, stats: DeliveryStats, ready: EventLoopPromise<Void>) {
        self.host = host
        self.path = path
        self.stats = stats
        self.ready = ready
    }

    func channelActive(context: ChannelHandlerContext) {
        var head = HTTPRequestHead(version: .http1_1, method: .GET, uri: self.path)
        head.headers.add(name: "Host", value: self.host)
        head.headers.add(name: "Content-Length", value: "0")
        context.write(self.wrapOutboundOut(.head(head)), promise: nil)
        context.writeAndFlush(self.wrapOutboundOut(.end(nil)), promise: nil)
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        // Only reached when the server did not upgrade.
        if case .head(let head) = self.unwrapInboundIn(data) {
            self.stats.failed += 1
            self.ready.fail(BenchError("WebSocket upgrade refused: \(head.status.code)"))
            context.close(promise: nil)
        }
    }
}
