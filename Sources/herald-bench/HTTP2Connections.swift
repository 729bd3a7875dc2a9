import NIOConcurrencyHelpers
import NIOCore
import NIOHTTP1
import NIOHTTP2
import NIOPosix
import NIOSSL

/// TLS connections speaking HTTP/2 (ALPN `h2`), each carrying up to
/// `streamsPerConnection` SSE subscribers as streams: what a browser does with the
/// `EventSource`s of one page over HTTPS. The certificate is not checked (benchmarks run
/// against a self-signed one on loopback).
final class HTTP2Connections: Sendable {
    /// Streams per connection (HTTP/2's usual `SETTINGS_MAX_CONCURRENT_STREAMS` is 100).
    static let streamsPerConnection = 100

    private let connections = NIOLockedValueBox<[Int: EventLoopFuture<NIOHTTP2Handler.StreamMultiplexer>]>([:])
    private let sslContext: NIOSSLContext

    init() throws {
        var tls = TLSConfiguration.makeClientConfiguration()
        tls.certificateVerification = .none
        tls.applicationProtocols = ["h2"]
        self.sslContext = try NIOSSLContext(configuration: tls)
    }

    /// The multiplexer of connection `number` (made on first use, on `loop`).
    func connection(_ number: Int, loop: any EventLoop, host: String, port: Int, source: SocketAddress?) -> EventLoopFuture<NIOHTTP2Handler.StreamMultiplexer> {
        self.connections.withLockedValue { connections in
            if let existing = connections[number] { return existing }
            let sslContext = self.sslContext
            var bootstrap = ClientBootstrap(group: loop)
                .channelOption(.socketOption(.so_reuseaddr), value: 1)
                .channelInitializer { channel in
                    channel.eventLoop.makeCompletedFuture {
                        try channel.pipeline.syncOperations.addHandler(NIOSSLClientHandler(context: sslContext, serverHostname: nil))
                    }
                }
            if let source { bootstrap = bootstrap.bind(to: source) }
            let multiplexer = bootstrap.connect(host: host, port: port).flatMap { channel in
                channel.eventLoop.makeCompletedFuture {
                    try channel.pipeline.syncOperations.configureHTTP2Pipeline(
                        mode: .client, connectionConfiguration: .init(), streamConfiguration: .init()
                    ) { stream in stream.eventLoop.makeSucceededVoidFuture() }
                }
            }
            connections[number] = multiplexer
            return multiplexer
        }
    }

    /// Opens an SSE stream on connection `number`; `subscriber` reads it.
    static func openStream(on multiplexer: NIOHTTP2Handler.StreamMultiplexer, subscriber: SSESubscriber) {
        multiplexer.createStreamChannel(promise: nil) { stream in
            stream.eventLoop.makeCompletedFuture {
                try stream.pipeline.syncOperations.addHandler(HTTP2FramePayloadToHTTP1ClientCodec(httpProtocol: .https))
                try stream.pipeline.syncOperations.addHandler(subscriber)
            }
        }
    }
}
