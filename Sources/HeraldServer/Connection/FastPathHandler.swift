import DequeModule
import HTTPTypes
import HeraldCore
import Hummingbird
import HummingbirdCore
import Logging
import NIOCore
import NIOHTTP1
import NIOHTTPTypes
import NIOHTTPTypesHTTP1

/// Herald's two hottest endpoints, served at the channel-handler level: a single publish
/// (`POST /v1/topics/{topic}/notifications`) and Server-Sent Events (`GET /v1/sse`).
///
/// The handler sits in Hummingbird's HTTP/1 pipeline (its `additionalChannelHandlers`
/// hook), between the HTTP codec and Hummingbird's request handling. Every other request
/// passes through to Hummingbird's router unchanged. For these two, the per-request async
/// machinery of a general framework costs more than the work itself: a publish answered
/// here takes half the CPU, and an SSE connection served here keeps no request task
/// alive, which more than halves its memory (see docs/performance.md).
///
/// Pipelined requests keep their order: a request handled here waits until the responses
/// to the requests before it have gone out, and requests after it wait for its response.
/// What arrives meanwhile is held, and once something is held the handler stops reading
/// (NIO's read gating), so a client that pipelines without waiting for answers is held back
/// by TCP, not buffered: what is held is at most what two reads decoded. (A client that
/// waits for its answers, as nearly all do, sends nothing meanwhile: reading stays on, and
/// costs no re-registration with epoll per request.)
final class FastPathHandler: ChannelDuplexHandler, RemovableChannelHandler, @unchecked Sendable {
    // @unchecked Sendable: NIO calls a handler only on its channel's event loop, and every
    // other use (completions of publishes, SSE writes) hops there with `eventLoop.execute`.
    typealias InboundIn = HTTPRequestPart
    typealias InboundOut = HTTPRequestPart
    typealias OutboundIn = HTTPResponsePart
    typealias OutboundOut = HTTPResponsePart

    let routes: FastPathRoutes
    private var context: ChannelHandlerContext?
    /// Requests passed to Hummingbird whose response has not finished.
    private var pendingPassedThrough = 0
    private var state = State.idle
    /// Parts that arrived while a response of ours was pending.
    private var held: Deque<HTTPRequestPart> = []
    /// Whether a read was asked for while reading was held back.
    private var readHeld = false
    private let writability = ChannelWritability()
    /// Whether the client closed its side (a stream that starts after that ends at once).
    private var inputClosed = false
    /// Whether the server is shutting down gracefully (a stream that starts after that
    /// ends at once).
    private var quiescing = false
    /// The request of ours being served, for its log line (`FastPathHandler+RequestLog`).
    var current: Current?

    /// Whether the socket can take more (from any thread).
    var isWritable: Bool { self.writability.isWritable }

    enum State {
        case idle
        /// Forwarding the parts of a request to Hummingbird.
        case passing
        /// A request of ours arrived while Hummingbird still answers earlier ones: hold
        /// everything until those answers are out.
        case holding
        /// Reading the body of a publish.
        case readingPublish(HTTPRequest, topic: String, body: ByteBuffer, tooLarge: Bool)
        /// Reading the (empty) rest of an SSE request.
        case readingSubscribe(HTTPRequest)
        /// Waiting to answer a request of ours; what arrives meanwhile is held.
        case answering
        /// Streaming Server-Sent Events; the connection is the stream's.
        case streaming(SSEStream)
    }

    init(routes: FastPathRoutes) {
        self.routes = routes
    }

    func handlerAdded(context: ChannelHandlerContext) {
        self.context = context
        self.handOff = try? context.pipeline.syncOperations.handler(type: StreamHandOff.self)
    }

    /// Until the first request is known to start a stream or not (see `StreamHandOff`).
    private var handOff: StreamHandOff?

    private func decideHandOff(stream: Bool) {
        self.handOff?.decide(stream: stream)
        self.handOff = nil
    }

    func handlerRemoved(context: ChannelHandlerContext) {
        // Removed with the channel: a stream ends here too (a close started from within
        // the decoder's end-of-input does not always reach channelInactive below).
        if case .streaming(let stream) = self.state { stream.end() }
        self.context = nil
    }

    // MARK: - Inbound

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        // A stream's connection parses nothing more (its HTTP decoder left the pipeline, and
        // may hand over what it still held): what the client sends is ignored, unread.
        if case .streaming = self.state { return }
        self.process(self.unwrapInboundIn(data), context: context)
    }

    private func process(_ part: HTTPRequestPart, context: ChannelHandlerContext) {
        switch self.state {
        case .idle:
            guard case .head(let request) = part else {
                context.fireChannelRead(self.wrapInboundOut(part))
                return
            }
            let route = self.routes.match(request)
            if route != .sse { self.decideHandOff(stream: false) }
            if route != nil, self.pendingPassedThrough > 0 {
                self.held.append(part)
                self.state = .holding
                return
            }
            switch route {
            case .none:
                self.state = .passing
                self.pendingPassedThrough += 1
                context.fireChannelRead(self.wrapInboundOut(part))
            case .publish(let topic):
                self.begin(request, route: "/v1/topics/{topic}/notifications")
                self.state = .readingPublish(request, topic: topic, body: ByteBuffer(), tooLarge: false)
            case .sse:
                self.begin(request, route: "/v1/sse")
                self.state = .readingSubscribe(request)
            }
        case .passing:
            context.fireChannelRead(self.wrapInboundOut(part))
            if case .end = part { self.state = .idle }
        case .readingPublish(let request, let topic, var body, var tooLarge):
            switch part {
            case .head:
                self.held.append(part)
            case .body(var chunk):
                if !tooLarge {
                    if body.readableBytes + chunk.readableBytes > self.routes.maximumPayload {
                        tooLarge = true
                        body = ByteBuffer()
                    } else {
                        body.writeBuffer(&chunk)
                    }
                }
                self.state = .readingPublish(request, topic: topic, body: body, tooLarge: tooLarge)
            case .end:
                self.state = .answering
                self.publish(request, topic: topic, body: body, tooLarge: tooLarge)
            }
        case .readingSubscribe(let request):
            if case .end = part {
                self.state = .answering
                self.startSSE(request)
            }
        case .holding, .answering:
            self.held.append(part)
        case .streaming:
            // A client does not send on an event stream; anything it sends is ignored.
            break
        }
    }

    /// Goes on with the parts held back, now that nothing of ours is pending.
    private func releaseHeld() {
        guard let context = self.context else { return }
        self.state = .idle
        parts: while let part = self.held.popFirst() {
            self.process(part, context: context)
            switch self.state {
            case .holding, .answering:
                return
            case .streaming:
                break parts
            case .idle, .passing, .readingPublish, .readingSubscribe:
                continue
            }
        }
        self.resumeReading()
    }

    // MARK: - Read gating

    func read(context: ChannelHandlerContext) {
        switch self.state {
        case .holding, .answering:
            guard !self.held.isEmpty else {
                // Nothing came while an answer of ours is pending (a client waiting for it).
                context.read()
                return
            }
            // An answer of ours is pending and the client sent more: what it sends next
            // waits in its socket.
            self.readHeld = true
        case .idle, .passing, .readingPublish, .readingSubscribe, .streaming:
            context.read()
        }
    }

    /// Reads again, if a read was held back.
    private func resumeReading() {
        guard self.readHeld, let context = self.context else { return }
        self.readHeld = false
        context.read()
    }

    func userInboundEventTriggered(context: ChannelHandlerContext, event: Any) {
        if let event = event as? ChannelEvent, event == .inputClosed { self.inputClosed = true }
        if event is ChannelShouldQuiesceEvent {
            self.quiescing = true
            switch self.state {
            case .readingPublish, .readingSubscribe, .answering:
                // Graceful shutdown while a request of ours is in progress. Hummingbird's
                // connection handler (after this one) never saw it and would close the
                // connection as idle: a publish committed meanwhile would go unanswered.
                // ConnectionTimeoutHandler closes the connection once it is answered.
                return
            case .idle, .passing, .holding, .streaming:
                break
            }
        }
        if case .streaming(let stream) = self.state {
            if event is ChannelShouldQuiesceEvent {
                // Graceful shutdown: end the stream so the client reconnects elsewhere.
                stream.end()
            } else if let event = event as? ChannelEvent, event == .inputClosed {
                // The client closed its side (half-closure is allowed on the server's
                // channels): it is gone. Close now; otherwise the connection and its
                // subscription would linger until a write failed, a heartbeat or two later.
                context.close(promise: nil)
                return
            }
        }
        context.fireUserInboundEventTriggered(event)
    }

    func channelInactive(context: ChannelHandlerContext) {
        if case .streaming(let stream) = self.state { stream.end() }
        self.writability.resumeAll()
        context.fireChannelInactive()
    }

    func channelWritabilityChanged(context: ChannelHandlerContext) {
        self.writability.changed(context.channel)
        context.fireChannelWritabilityChanged()
    }

    // MARK: - Outbound (Hummingbird's responses)

    func write(context: ChannelHandlerContext, data: NIOAny, promise: EventLoopPromise<Void>?) {
        context.write(data, promise: promise)
        if case .end = self.unwrapOutboundIn(data) {
            self.pendingPassedThrough -= 1
            if self.pendingPassedThrough == 0, case .holding = self.state {
                context.eventLoop.execute { self.releaseHeld() }
            }
        }
    }

    // MARK: - Answers of our own (called on the event loop)

    /// Writes a whole response.
    func respond(status: HTTPResponse.Status, headers: HTTPFields, body: ByteBuffer, closeAfter: Bool) {
        guard let context = self.context else { return }
        var headers = headers
        if let current = self.current { headers[RequestLog.requestID] = current.id }
        self.finish(status: status.code)
        headers[.date] = HTTPDate.now
        headers[.server] = "Herald"
        headers[.contentLength] = String(body.readableBytes)
        context.write(self.wrapOutboundOut(.head(HTTPResponse(status: status, headerFields: headers))), promise: nil)
        context.write(self.wrapOutboundOut(.body(body)), promise: nil)
        context.writeAndFlush(self.wrapOutboundOut(.end(nil)), promise: nil)
        if closeAfter {
            context.close(promise: nil)
        } else {
            self.releaseHeld()
        }
    }

    /// Writes an error response.
    func respond(_ error: HeraldError, request: HTTPRequest) {
        let error = error.identified(by: self.requestID)
        error.logIfInternal(self.routes.logger)
        var headers = error.headers
        self.addCORS(to: &headers, request: request)
        self.respond(status: error.status, headers: headers, body: ByteBuffer(bytes: error.jsonBody), closeAfter: Self.wantsClose(request))
    }

    /// Adds the CORS headers for `request` (the policy is immutable: any thread).
    func addCORSFromAnyThread(to headers: inout HTTPFields, request: HTTPRequest) {
        self.addCORS(to: &headers, request: request)
    }

    func addCORS(to headers: inout HTTPFields, request: HTTPRequest) {
        if let cors = self.routes.cors.headers(for: request.headerFields[.origin]) {
            for field in cors { headers[field.name] = field.value }
        }
    }

    static func wantsClose(_ request: HTTPRequest) -> Bool {
        request.headerFields[.connection]?.lowercased().contains("close") == true
    }

    // MARK: - Publish

    private func publish(_ request: HTTPRequest, topic: String, body: ByteBuffer, tooLarge: Bool) {
        guard let loop = self.context?.eventLoop else { return }
        self.routes.authenticator.withPrincipal(RequestToken.find(request.headerFields), on: loop) { principal in
            switch principal {
            case .success(let principal): self.publish(request, topic: topic, body: body, tooLarge: tooLarge, principal: principal)
            case .failure(let error): self.respond(error, request: request)
            }
        }
    }

    private func publish(_ request: HTTPRequest, topic: String, body: ByteBuffer, tooLarge: Bool, principal: Principal) {
        guard let context = self.context else { return }
        let loop = context.eventLoop
        do throws(HeraldError) {
            if tooLarge {
                HeraldMetrics.refused(.payloadSize)
                throw HeraldError(.payloadTooLarge, "the body is larger than \(self.routes.maximumPayload) bytes")
            }
            let item = try FastPathRoutes.checkPublish(
                request, topic: topic, body: body, principal: principal, address: context.channel.remoteAddress?.ipAddress,
                limits: self.routes.limits
            )
            // Answered from the committer, on this connection's loop; no task needed.
            self.routes.publisher.submit([item]) { result in
                loop.execute {
                    switch result {
                    case .success(let results): self.respondPublished(results[0], request: request)
                    case .failure(let error): self.respond(error, request: request)
                    }
                }
            }
        } catch {
            self.respond(error, request: request)
        }
    }

    private func respondPublished(_ result: PublishResult, request: HTTPRequest) {
        let notification = result.notification
        var headers: HTTPFields = [
            .contentType: "application/json",
            .location: "/v1/topics/\(notification.topic)/notifications/\(notification.seq)",
        ]
        self.addCORS(to: &headers, request: request)
        self.respond(
            status: result.replayed ? .ok : .created,
            headers: headers,
            body: ByteBuffer(bytes: notification.json),
            closeAfter: Self.wantsClose(request)
        )
    }

    // MARK: - Server-Sent Events

    private func startSSE(_ request: HTTPRequest) {
        guard let context = self.context else { return }
        let stream = SSEStream(handler: self, loop: context.eventLoop, routes: self.routes)
        self.state = .streaming(stream)
        stream.start(request)
        // Asked for while the server shuts down: it ends at once (the client reconnects).
        if self.quiescing { stream.end() }
    }

    /// Writes a chunk of the stream's body, already framed (`SSEEncoding`), straight to the
    /// connection (on the event loop; `beginStream` took the HTTP handlers out of the
    /// way); `whenWritten` runs once the socket has taken it (not if the connection fails
    /// first).
    func writeChunk(_ chunk: ByteBuffer, whenWritten: (@Sendable () -> Void)? = nil) {
        guard let context = self.context else { return }
        guard let whenWritten else {
            context.writeAndFlush(NIOAny(IOData.byteBuffer(chunk)), promise: nil)
            return
        }
        let promise = context.eventLoop.makePromise(of: Void.self)
        promise.futureResult.whenSuccess { whenWritten() }
        context.writeAndFlush(NIOAny(IOData.byteBuffer(chunk)), promise: promise)
    }

    /// Starts the stream's response: its head, then `first`, a framed chunk (on the
    /// event loop). From now on the connection is the stream's.
    func beginStream(_ head: HTTPResponse, first: ByteBuffer) {
        guard let context = self.context else { return }
        var head = head
        if let current = self.current { head.headerFields[RequestLog.requestID] = current.id }
        self.finish(status: head.status.code)
        // The head goes through the HTTP encoder (into the channel's pending writes); one
        // flush, the chunk's, sends both.
        context.write(self.wrapOutboundOut(.head(head)), promise: nil)
        self.leaveHTTP(context)
        self.writeChunk(first)
        self.decideHandOff(stream: true)
        // The client left while the stream was being set up: end it now, not at the
        // first failed write a heartbeat later.
        if self.inputClosed {
            context.close(promise: nil)
            return
        }
        // Reading goes on, only to notice the client leaving.
        self.resumeReading()
    }

    /// Takes the connection's HTTP/1 handlers out of its pipeline: nothing more is parsed
    /// from a stream's connection, and its chunks are written framed. An idle stream keeps
    /// about 3 KiB less (docs/performance.md). Hummingbird's own end of the pipeline stays
    /// (it only sees the connection close).
    private func leaveHTTP(_ context: ChannelHandlerContext) {
        let pipeline = context.pipeline.syncOperations
        func remove<Handler: RemovableChannelHandler>(_ type: Handler.Type) {
            guard let found = try? pipeline.context(handlerType: type) else { return }
            pipeline.removeHandler(context: found, promise: nil)
        }
        remove(ConnectionTimeoutHandler.self)
        remove(HTTP1ToHTTPServerCodec.self)
        remove(HTTPConnectionStateHandler.self)
        remove(HTTPResponseEncoder.self)
        remove(ByteToMessageHandler<HTTPRequestDecoder>.self)
    }

    /// The stream ended: finish the response and close (on the event loop).
    func endStream() {
        guard let context = self.context else { return }
        context.writeAndFlush(NIOAny(IOData.byteBuffer(SSEChunk.last)), promise: nil)
        context.close(promise: nil)
    }

    /// The stream could not start: answer with the error instead (on the event loop).
    func failStream(_ error: HeraldError, request: HTTPRequest) {
        self.decideHandOff(stream: false)
        self.respond(error, request: request)
    }

    /// Waits until the socket can take more (on the event loop).
    func whenWritable(_ continuation: CheckedContinuation<Void, Never>) {
        self.writability.whenWritable(self.context?.channel, continuation)
    }
}
