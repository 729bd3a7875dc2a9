import HTTPTypes
import HeraldCore
import Hummingbird
import HummingbirdCore
import Logging
import NIOCore
import NIOHTTP1
import NIOHTTPTypes
import NIOHTTPTypesHTTP1
import NIOWebSocket

/// How Herald serves a connection: Hummingbird's HTTP/1 with a WebSocket upgrade, set up
/// so that long-lived connections keep no task of the HTTP server.
///
/// Hummingbird serves each connection from a task waiting for its next request; that task
/// and its suspended frames cost about 8 KiB as long as the connection lives, more than
/// an idle stream needs in all. So:
/// - `GET /v1/ws` with a valid upgrade becomes a `WebSocketConnection` in the pipeline;
///   the connection's task ends at once.
/// - A connection whose first request starts an event stream gives its task back too
///   (see `StreamHandOff`); `FastPathHandler` and the stream own it until it closes.
/// - Every other connection is Hummingbird's as usual (`HTTPChannelHandler.handleHTTP`).
struct HeraldChildChannel: ServerChildChannel, HTTPChannelHandler {
    /// What the upgrade handler decided.
    enum UpgradeResult: Sendable {
        /// A WebSocket: the connection belongs to its handler.
        case webSocket
        /// Plain HTTP, served by Hummingbird through this async channel.
        case notUpgraded(NIOAsyncChannel<HTTPRequestPart, HTTPResponsePart>)
        /// An upgrade Herald refused (another path, bad parameters): answered with the
        /// error, then closed. (NIO's upgrade handler keeps the request's head, so the
        /// router cannot answer it.)
        case refused(NIOAsyncChannel<HTTPRequestPart, HTTPResponsePart>, HeraldError)
    }

    /// A connection: the upgrade decision and the stream hand-off decision, or nil for a
    /// connection beyond `--max-connections` (answered 503 and closed already).
    struct Value: ServerChildChannelValue {
        let decisions: (upgrade: EventLoopFuture<UpgradeResult>, stream: EventLoopFuture<Bool>)?
        let channel: any Channel
    }

    let responder: HTTPChannelHandler.Responder
    let configuration: HTTP1Channel.Configuration
    let routes: FastPathRoutes
    let limit: ConnectionLimit

    func setup(channel: any Channel, logger: Logger) -> EventLoopFuture<Value> {
        channel.eventLoop.makeCompletedFuture {
            guard self.limit.admit(channel) else {
                self.limit.refuse(channel)
                return Value(decisions: nil, channel: channel)
            }
            try Self.sizeReceiveBuffer(of: channel)
            return try self.configure(channel, logger: logger, secure: false)
        }
    }

    /// Starts an admitted connection's receive buffer small: a channel keeps its buffer as
    /// long as it lives (SwiftNIO's pool per channel reuses it for every read and never
    /// shrinks it), so NIO's default of 2 KiB is 2 KiB of every idle stream. Requests are
    /// small; a read that fills the buffer doubles it for the next (up to 64 KiB).
    static func sizeReceiveBuffer(of channel: any Channel) throws {
        try channel.syncOptions?.setOption(ChannelOptions.recvAllocator, value: Self.receiveBuffer)
    }

    private static let receiveBuffer = AdaptiveRecvByteBufferAllocator(minimum: 512, initial: 512, maximum: 65536)

    /// Sets up HTTP/1 on an admitted connection (on its event loop); `secure` when it
    /// runs over TLS.
    func configure(_ channel: any Channel, logger: Logger, secure: Bool) throws -> Value {
        let routes = self.routes
        // The upgrade request, checked once when NIO asks whether to upgrade. Until a
        // `WebSocketConnection` owns it, its client's stream is released if the
        // connection closes (also when the check ends after the close).
        let parsed = NIOLoopBoundBox<Result<WebSocketRequest, HeraldError>?>(nil, eventLoop: channel.eventLoop)
        channel.closeFuture.whenComplete { _ in
            if case .success(let request)? = parsed.value { request.admission?.release() }
        }
        let webSocket = NIOTypedWebSocketServerUpgrader<UpgradeResult>(
            maxFrameSize: routes.configuration.maximumFrame,
            shouldUpgrade: { channel, head in
                let promise = channel.eventLoop.makePromise(of: HTTPHeaders?.self)
                let idField = RequestLog.requestID.canonicalName
                let (id, start) = (RequestLog.id(head.headers.first(name: idField)), ContinuousClock.now)
                WebSocketRequest.check(head, routes: routes, loop: channel.eventLoop) { result in
                    // The client left while its token was checked: nothing to upgrade.
                    guard channel.isActive else {
                        if case .success(let request) = result { request.admission?.release() }
                        return promise.succeed(nil)
                    }
                    // The upgrade's log line; a refusal's answer carries the id too.
                    var status = 101
                    parsed.value = result.mapError { error in
                        var error = error.identified(by: id)
                        error.requestID = id
                        error.logIfInternal(routes.logger)
                        status = error.status.code
                        return error
                    }
                    RequestLog.record(
                        routes.logger, id: id, method: "GET", path: head.uri, route: "/v1/ws", status: status, since: start
                    )
                    guard case .success = result else { return promise.succeed(nil) }
                    promise.succeed(HTTPHeaders([(idField, id)]))
                }
                return promise.futureResult
            },
            upgradePipelineHandler: { channel, head in
                channel.eventLoop.makeCompletedFuture {
                    guard case .success(let request)? = parsed.value else { throw HeraldError(.notFound, "no upgrade") }
                    let maximum = routes.configuration.maximumFrame
                    try channel.pipeline.syncOperations.addHandler(
                        NIOWebSocketFrameAggregator(
                            minNonFinalFragmentSize: 0, maxAccumulatedFrameCount: 1 << 16, maxAccumulatedFrameSize: maximum
                        )
                    )
                    try channel.pipeline.syncOperations.addHandler(
                        WebSocketConnection(routes: routes, request: request)
                    )
                    // The connection's handler owns the request (and its admission) now.
                    parsed.value = nil
                    return .webSocket
                }
            }
        )
        let upgrade = NIOTypedHTTPServerUpgradeConfiguration(
            upgraders: [webSocket],
            notUpgradingCompletionHandler: { channel in
                channel.eventLoop.makeCompletedFuture {
                    let pipeline = channel.pipeline.syncOperations
                    try pipeline.addHandler(HTTP1ToHTTPServerCodec(secure: secure))
                    try pipeline.addHandlers(self.configuration.additionalChannelHandlers())
                    try pipeline.addHandler(HTTPConnectionStateHandler(idleTimeout: nil, logger: logger))
                    let http1 = try NIOAsyncChannel<HTTPRequestPart, HTTPResponsePart>(
                        wrappingChannelSynchronously: channel, configuration: .init(isOutboundHalfClosureEnabled: true)
                    )
                    if case .failure(let error) = parsed.value { return .refused(http1, error) }
                    return .notUpgraded(http1)
                }
            }
        )
        var pipelineConfiguration = NIOUpgradableHTTPServerPipelineConfiguration(upgradeConfiguration: upgrade)
        pipelineConfiguration.enablePipelining = false  // HTTP is pipelined by NIOAsyncChannel
        pipelineConfiguration.enableErrorHandling = false  // Hummingbird answers errors
        pipelineConfiguration.enableResponseHeaderValidation = false  // HTTP types validate already
        pipelineConfiguration.decoderConfiguration.maxHeaderFieldSize = self.configuration.httpDecoder.maxHeaderFieldSize
        pipelineConfiguration.decoderConfiguration.maxHeaderListSize = self.configuration.httpDecoder.maxHeaderListSize
        pipelineConfiguration.decoderConfiguration.maxHeaderFieldCount = self.configuration.httpDecoder.maxHeaderFieldCount
        let upgraded = try channel.pipeline.syncOperations.configureUpgradableHTTPServerPipeline(configuration: pipelineConfiguration)
        try channel.pipeline.syncOperations.addHandler(
            ConnectionTimeoutHandler(
                requestTimeout: TimeAmount(routes.configuration.requestTimeout),
                idleTimeout: TimeAmount(routes.configuration.idleTimeout)
            )
        )
        let handOff = StreamHandOff(eventLoop: channel.eventLoop)
        try channel.pipeline.syncOperations.addHandler(handOff)
        return Value(decisions: (upgraded, handOff.decision), channel: channel)
    }

    func handle(value: Value, logger: Logger) async {
        guard let decisions = value.decisions else { return }
        let http1: NIOAsyncChannel<HTTPRequestPart, HTTPResponsePart>
        do {
            switch try await decisions.upgrade.get() {
            case .webSocket:
                return
            case .notUpgraded(let channel):
                http1 = channel
            case .refused(let channel, let error):
                await Self.refuse(channel, error)
                return
            }
        } catch {
            logger.trace("no request before the connection closed, or the upgrade failed", metadata: ["error": "\(error)"])
            try? await value.channel.close()
            return
        }
        if (try? await decisions.stream.get()) == true {
            // Hummingbird's side of the connection (an async channel nobody reads) is kept
            // until the connection closes: dropped earlier, it would half-close the stream.
            value.channel.closeFuture.whenComplete { _ in withExtendedLifetime(http1) {} }
            return
        }
        await self.handleHTTP(asyncChannel: http1, logger: logger)
    }

    /// Answers a refused upgrade with `error` and closes.
    static func refuse(_ http1: NIOAsyncChannel<HTTPRequestPart, HTTPResponsePart>, _ error: HeraldError) async {
        let (head, body) = error.closingResponse
        try? await http1.executeThenClose { _, outbound in
            try await outbound.write(contentsOf: [.head(head), .body(body), .end(nil)])
        }
    }
}

extension HTTPServerBuilder {
    /// Herald's connections (`HeraldChildChannel`): the router's HTTP/1, WebSocket on
    /// `/v1/ws`, and the fast path for single publishes and event streams.
    static func herald(routes: FastPathRoutes, limit: ConnectionLimit) -> HTTPServerBuilder {
        .init { responder in
            HeraldChildChannel(
                responder: responder,
                configuration: .init(additionalChannelHandlers: [FastPathHandler(routes: routes)]),
                routes: routes,
                limit: limit
            )
        }
    }
}
