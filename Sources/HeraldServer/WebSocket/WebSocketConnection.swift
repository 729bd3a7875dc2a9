import HeraldCore
import NIOCore
import NIOWebSocket

/// One WebSocket connection, served at the channel-handler level after the upgrade.
///
/// NIO's upgrader puts the frame decoder (which refuses frames over `--max-frame` with
/// close code 1009) and encoder in front of it, and a `NIOWebSocketFrameAggregator`
/// joins fragmented messages. This handler answers the protocol's control frames, pings
/// the client every heartbeat and closes a connection from which nothing (no pong, no
/// message) came through two pings in a row, and hands text frames to its
/// `WebSocketSession`, whose task writes back through `send(_:)`. Like `FastPathHandler`
/// for SSE, it keeps no per-connection task of the HTTP server alive, which is most of
/// what an idle connection would otherwise cost.
///
/// Memory per connection is bounded whatever the client does: at most
/// `maximumUnanswered` messages (commands, and publishes waiting for their commit) are
/// in the session's hands at once, and nothing more is read while that many are, or while
/// the socket does not take what is written (pongs included). A client that sends without
/// reading is held back by TCP.
final class WebSocketConnection: ChannelDuplexHandler, RemovableChannelHandler, @unchecked Sendable {
    // @unchecked Sendable: NIO calls a handler only on its channel's event loop, and the
    // session, on another thread, only reads `isWritable` (an atomic) and otherwise hops to
    // the loop with `eventLoop.execute` before calling it.
    typealias InboundIn = WebSocketFrame
    typealias OutboundIn = WebSocketFrame
    typealias OutboundOut = WebSocketFrame

    /// The most messages from the client the session holds unanswered.
    static let maximumUnanswered = 32

    let routes: FastPathRoutes
    let request: WebSocketRequest
    private var context: ChannelHandlerContext?
    /// NIO's frame encoder's place in the pipeline: whole frames encoded once for many
    /// connections are written from there, past the encoder (`sendFrame`).
    private var encoderContext: ChannelHandlerContext?
    private var session: WebSocketSession?
    private var pings: RepeatedTask?
    /// The close at the token's expiry.
    private var expiry: Scheduled<Void>?
    /// Whether the connection's counts (open connections, the client's streams) were released (once).
    private var released = false
    /// Pings sent since the client was last heard from.
    private var unansweredPings = 0
    private var closeSent = false
    private let writability = ChannelWritability()
    /// Messages handed to the session and not answered yet.
    private var unanswered = 0
    /// Whether a read was asked for while reading was held back.
    private var readHeld = false

    init(routes: FastPathRoutes, request: WebSocketRequest) {
        self.routes = routes
        self.request = request
    }

    /// Whether the socket can take more (from any thread).
    var isWritable: Bool { self.writability.isWritable }

    func handlerAdded(context: ChannelHandlerContext) {
        self.context = context
        self.encoderContext = try? context.pipeline.syncOperations.context(handlerType: WebSocketFrameEncoder.self)
        let heartbeat = TimeAmount(self.routes.configuration.heartbeat)
        self.pings = context.eventLoop.scheduleRepeatedTask(initialDelay: heartbeat, delay: heartbeat) { [weak self] _ in
            self?.pingOrClose()
        }
        HeraldMetrics.connection(.websocket, by: 1)
        // The connection ends when its token expires: 1008 (policy violation).
        if let remaining = self.request.principal.remaining() {
            self.expiry = context.eventLoop.scheduleTask(in: TimeAmount(remaining)) { [weak self] in
                self?.close(code: .policyViolation)
            }
        }
        self.session = WebSocketSession(
            connection: self, loop: context.eventLoop, routes: self.routes, request: self.request,
            address: context.channel.remoteAddress?.ipAddress
        )
    }

    func handlerRemoved(context: ChannelHandlerContext) {
        self.stop()
        self.context = nil
        self.encoderContext = nil
    }

    // MARK: - Inbound

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        let frame = self.unwrapInboundIn(data)
        self.unansweredPings = 0
        switch frame.opcode {
        case .text:
            let data = frame.unmaskedData
            // RFC 6455 §8.1: a text message that is not UTF-8 fails the connection with 1007.
            guard data.withUnsafeReadableBytes({ UTF8Check.isValid($0) }) else {
                self.close(code: .dataInconsistentWithMessage)
                return
            }
            self.unanswered += 1
            self.session?.received(String(buffer: data))
        case .binary:
            self.unanswered += 1
            self.session?.receivedBinary()
        case .ping:
            self.write(WebSocketFrame(fin: true, opcode: .pong, data: frame.unmaskedData), flush: true)
        case .pong:
            break  // heard from: counted above
        case .connectionClose:
            // Answer with the client's code, then close.
            var data = frame.unmaskedData
            let code = data.readWebSocketErrorCode() ?? .normalClosure
            self.close(code: code)
        default:
            break
        }
    }

    func channelInactive(context: ChannelHandlerContext) {
        self.stop()
        context.fireChannelInactive()
    }

    func channelWritabilityChanged(context: ChannelHandlerContext) {
        self.writability.changed(context.channel)
        self.resumeReading()
        context.fireChannelWritabilityChanged()
    }

    // MARK: - Read gating

    func read(context: ChannelHandlerContext) {
        if self.unanswered >= Self.maximumUnanswered || !context.channel.isWritable {
            self.readHeld = true
        } else {
            context.read()
        }
    }

    /// Reads again if a read was held back and nothing holds it any more.
    private func resumeReading() {
        guard self.readHeld, let context = self.context, self.unanswered < Self.maximumUnanswered, context.channel.isWritable
        else { return }
        self.readHeld = false
        context.read()
    }

    func userInboundEventTriggered(context: ChannelHandlerContext, event: Any) {
        // Graceful shutdown: the session ends and says 1001, so the client reconnects elsewhere.
        if event is ChannelShouldQuiesceEvent { self.session?.end(goingAway: true) }
        if let event = event as? ChannelEvent, event == .inputClosed {
            // The client closed its side without a close frame: it is gone (half-closure is
            // allowed on the server's channels, so NIO would otherwise keep the connection).
            context.close(promise: nil)
            return
        }
        context.fireUserInboundEventTriggered(event)
    }

    func errorCaught(context: ChannelHandlerContext, error: any Error) {
        if error is NIOWebSocketFrameAggregator.Error {
            // A message over the maximum, in fragments.
            HeraldMetrics.refused(.messageSize)
            self.close(code: .messageTooLarge)
        } else if let error = error as? NIOWebSocketError, error == .invalidFrameLength {
            // One frame over the maximum: NIO's protocol error handler closed with 1009.
            HeraldMetrics.refused(.messageSize)
        } else if !(error is NIOWebSocketError) {
            // (NIO's WebSocketProtocolErrorHandler, before this handler, has already
            // answered a protocol error with its close code.)
            context.close(promise: nil)
        }
    }

    // MARK: - Called by the session (on the event loop)

    /// Writes text frames, then flushes; `whenWritten` runs once the socket has taken
    /// the last of them (not if the connection fails first).
    func send(_ frames: [ByteBuffer], whenWritten: (@Sendable () -> Void)? = nil) {
        guard !self.closeSent, let context = self.context else { return }
        for (index, frame) in frames.enumerated() {
            let data = self.wrapOutboundOut(WebSocketFrame(fin: true, opcode: .text, data: frame))
            if index == frames.count - 1, let whenWritten {
                let promise = context.eventLoop.makePromise(of: Void.self)
                promise.futureResult.whenSuccess { whenWritten() }
                context.write(data, promise: promise)
            } else {
                context.write(data, promise: nil)
            }
        }
        context.flush()
    }

    /// Writes a whole text frame, header included (`WebSocketTextFrame`), then flushes:
    /// the same buffer for every connection, so it goes past NIO's frame encoder, in order
    /// with the frames that go through it (the encoder writes on at once). `whenWritten` runs
    /// once the socket has taken it.
    func sendFrame(_ frame: ByteBuffer, whenWritten: (@Sendable () -> Void)? = nil) {
        guard !self.closeSent, let context = self.context else { return }
        guard let encoderContext = self.encoderContext else {
            // (The upgrade always installs NIO's encoder.) Through the encoder, then.
            if let payload = WebSocketTextFrame.payload(of: frame) { self.send([payload], whenWritten: whenWritten) }
            return
        }
        var promise: EventLoopPromise<Void>? = nil
        if let whenWritten {
            promise = context.eventLoop.makePromise(of: Void.self)
            promise?.futureResult.whenSuccess { whenWritten() }
        }
        encoderContext.write(NIOAny(IOData.byteBuffer(frame)), promise: promise)
        context.flush()
    }

    /// The session has answered a message of the client's (or decided it needs no answer).
    func answered() {
        self.unanswered = max(0, self.unanswered - 1)
        self.resumeReading()
    }

    /// The session ended: says goodbye with 1001 (going away) or 1000, and closes.
    func finish(goingAway: Bool) {
        self.close(code: goingAway ? .goingAway : .normalClosure)
    }

    /// Waits until the socket can take more.
    func whenWritable(_ continuation: CheckedContinuation<Void, Never>) {
        self.writability.whenWritable(self.context?.channel, continuation)
    }

    // MARK: - Internals

    private func write(_ frame: WebSocketFrame, flush: Bool) {
        guard let context = self.context else { return }
        if flush {
            context.writeAndFlush(self.wrapOutboundOut(frame), promise: nil)
        } else {
            context.write(self.wrapOutboundOut(frame), promise: nil)
        }
    }

    private func pingOrClose() {
        guard let context = self.context else { return }
        if self.unansweredPings >= 2 {
            // Silent through two pings (a heartbeat or two): the peer is gone.
            context.close(promise: nil)
            return
        }
        self.unansweredPings += 1
        self.write(WebSocketFrame(fin: true, opcode: .ping, data: context.channel.allocator.buffer(capacity: 0)), flush: true)
    }

    private func close(code: WebSocketErrorCode) {
        guard let context = self.context else { return }
        guard !self.closeSent else {
            context.close(promise: nil)
            return
        }
        self.closeSent = true
        var data = context.channel.allocator.buffer(capacity: 2)
        data.write(webSocketErrorCode: code)
        let close = WebSocketFrame(fin: true, opcode: .connectionClose, data: data)
        let channel = context.channel
        context.writeAndFlush(self.wrapOutboundOut(close)).whenComplete { _ in channel.close(promise: nil) }
    }

    private func stop() {
        self.pings?.cancel()
        self.pings = nil
        self.expiry?.cancel()
        self.expiry = nil
        if !self.released {
            self.released = true
            HeraldMetrics.connection(.websocket, by: -1)
            self.request.admission?.release()
        }
        self.session?.end(goingAway: false)
        self.session = nil
        self.writability.resumeAll()
    }
}
