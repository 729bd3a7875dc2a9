import HeraldCore
import HummingbirdCore
import HummingbirdHTTP2
import Logging
import NIOCore
import NIOHTTP2
import NIOSSL
import NIOTLS

/// How Herald serves a connection over TLS (`--tls-cert`, `--tls-key`): ALPN chooses
/// HTTP/2 or HTTP/1.1.
///
/// - `h2`: Hummingbird's HTTP/2, every stream through the router, Server-Sent Events and
///   single publishes included (`SSERoutes`, `PublishRoutes`): a browser's streams to one
///   origin share one connection instead of HTTP/1.1's six.
/// - `http/1.1` (or no ALPN): `HeraldChildChannel`, as without TLS: the fast path and
///   WebSocket (which browsers open over HTTP/1.1).
///
/// A connection beyond `--max-connections` is closed at once (an answer would need the
/// handshake first), and one whose handshake and protocol choice take longer than
/// `--request-timeout` is closed (the time limit HTTP/1 applies to a request's head).
struct HeraldSecureChildChannel: ServerChildChannel, HTTPChannelHandler {
    /// The connection's protocol, once negotiated, or nil for one refused at the door.
    struct Value: ServerChildChannelValue {
        let negotiated: EventLoopFuture<NIONegotiatedHTTPVersion<HeraldChildChannel.Value, HTTP2Channel.Value>>?
        let channel: any Channel
    }

    let http1: HeraldChildChannel
    let http2: HTTP2Channel
    let sslContext: NIOSSLContext
    let limit: ConnectionLimit

    var responder: HTTPChannelHandler.Responder { self.http1.responder }

    func setup(channel: any Channel, logger: Logger) -> EventLoopFuture<Value> {
        channel.eventLoop.makeCompletedFuture {
            guard self.limit.admit(channel) else {
                HeraldMetrics.refused(.maxConnections)
                channel.close(promise: nil)
                return Value(negotiated: nil, channel: channel)
            }
            try HeraldChildChannel.sizeReceiveBuffer(of: channel)
            try channel.pipeline.syncOperations.addHandler(NIOSSLServerHandler(context: self.sslContext))
            let alpn = NIOTypedApplicationProtocolNegotiationHandler<
                NIONegotiatedHTTPVersion<HeraldChildChannel.Value, HTTP2Channel.Value>
            > { result in
                switch result {
                case .negotiated("h2"):
                    return self.http2.setup(channel: channel, logger: logger).map { .http2($0) }
                case .negotiated("http/1.1"), .fallback:
                    return channel.eventLoop.makeCompletedFuture {
                        .http1_1(try self.http1.configure(channel, logger: logger, secure: true))
                    }
                case .negotiated:
                    return channel.close().flatMapThrowing { throw NIOHTTP2Errors.invalidALPNToken() }
                }
            }
            try channel.pipeline.syncOperations.addHandler(alpn)
            let timeout = TimeAmount(self.http1.routes.configuration.requestTimeout)
            let deadline = channel.eventLoop.scheduleTask(in: timeout) { channel.close(promise: nil) }
            alpn.protocolNegotiationResult.whenComplete { _ in deadline.cancel() }
            return Value(negotiated: alpn.protocolNegotiationResult, channel: channel)
        }
    }

    func handle(value: Value, logger: Logger) async {
        guard let negotiated = value.negotiated else { return }
        do {
            switch try await negotiated.get() {
            case .http1_1(let http1):
                await self.http1.handle(value: http1, logger: logger)
            case .http2(let http2):
                await self.http2.handle(value: http2, logger: logger)
            }
        } catch {
            logger.debug("TLS handshake or protocol negotiation failed", metadata: ["error": "\(error)"])
            try? await value.channel.close()
        }
    }
}

extension HTTPServerBuilder {
    /// Herald's connections over TLS (`HeraldSecureChildChannel`).
    static func heraldSecure(
        routes: FastPathRoutes, limit: ConnectionLimit, tls: TLSConfiguration, idleTimeout: Duration
    ) throws -> HTTPServerBuilder {
        var tls = tls
        tls.applicationProtocols = ["h2", "http/1.1"]
        let sslContext = try NIOSSLContext(configuration: tls)
        return .init { responder in
            HeraldSecureChildChannel(
                http1: HeraldChildChannel(
                    responder: responder,
                    configuration: .init(additionalChannelHandlers: [FastPathHandler(routes: routes)]),
                    routes: routes,
                    limit: limit
                ),
                http2: HTTP2Channel(responder: responder, configuration: .init(idleTimeout: idleTimeout)),
                sslContext: sslContext,
                limit: limit
            )
        }
    }
}
