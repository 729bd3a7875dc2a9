import Foundation
import NIOCore
import NIOHTTP1
import NIOPosix

/// Many subscriber connections, spread over event loops and loopback source addresses
/// (127.0.0.2 and up, 20,000 connections each, so the client never runs out of ports).
struct SubscriberPool {
    enum Transport: String, CaseIterable {
        case sse
        case ws
        /// A connection that sends nothing (the server's cost of an accepted connection).
        case tcp
        /// One GET of the path, then the connection is kept open (keep-alive) and idle.
        case http
        /// SSE over HTTP/2 with TLS, `HTTP2Connections.streamsPerConnection` streams per connection.
        case h2sse
    }

    let group: MultiThreadedEventLoopGroup
    let host: String
    let port: Int
    let transport: Transport
    /// The last number of the first loopback source address (127.0.0.N); 20,000
    /// connections each.
    let sourceBase: Int
    /// One per event loop.
    let stats: [ObjectIdentifier: DeliveryStats]
    /// The HTTP/2 connections of `h2sse`.
    let http2: HTTP2Connections?

    /// A pool connecting to `host:port`; on loopback from `sourceAddress` (127.0.0.N) and up.
    init(group: MultiThreadedEventLoopGroup, host: String, port: Int, transport: Transport, sourceAddress: String = "127.0.0.2") {
        self.sourceBase = Int(sourceAddress.split(separator: ".").last ?? "2") ?? 2
        self.group = group
        self.host = host
        self.port = port
        self.transport = transport
        var stats: [ObjectIdentifier: DeliveryStats] = [:]
        for loop in group.makeIterator() { stats[ObjectIdentifier(loop)] = DeliveryStats() }
        self.stats = stats
        self.http2 = transport == .h2sse ? try? HTTP2Connections() : nil
    }

    /// Opens `count` subscribers on `path(i)`, at most `concurrency` connecting at once;
    /// returns how many are ready. Like a real client (an `EventSource` reconnects), one
    /// that failed to connect tries again, up to `attempts` times in all, a second apart:
    /// when thousands connect at once to a busy server, some connects time out.
    func connect(count: Int, concurrency: Int = 500, attempts: Int = 4, path: @escaping (Int) -> String) async -> Int {
        var ready = 0
        var pending = Array(0..<count)
        for attempt in 1...max(attempts, 1) where !pending.isEmpty {
            if attempt > 1 { try? await Task.sleep(for: .seconds(1)) }
            var failed: [Int] = []
            var start = 0
            while start < pending.count {
                let batch = pending[start..<min(start + concurrency, pending.count)]
                let futures = batch.map { (index: $0, future: self.open($0, path: path($0))) }
                for (index, future) in futures {
                    if (try? await future.get()) != nil { ready += 1 } else { failed.append(index) }
                }
                start += concurrency
            }
            pending = failed
        }
        return ready
    }

    private func open(_ index: Int, path: String) -> EventLoopFuture<Void> {
        if let http2 = self.http2 { return self.openStream(index, path: path, http2) }
        let loop = self.group.next()
        let stats = self.stats[ObjectIdentifier(loop)]!
        let promise = loop.makePromise(of: Void.self)
        let host = self.host
        let transport = self.transport
        var bootstrap = ClientBootstrap(group: loop)
            .channelOption(.socketOption(.so_reuseaddr), value: 1)
            .channelInitializer { channel in
                channel.eventLoop.makeCompletedFuture {
                    switch transport {
                    case .sse, .tcp, .http, .h2sse:
                        let mode: SSESubscriber.Mode = transport == .tcp ? .connectOnly : transport == .http ? .keepAlive : .stream
                        try channel.pipeline.syncOperations.addHTTPClientHandlers()
                        try channel.pipeline.syncOperations.addHandler(
                            SSESubscriber(host: host, path: path, stats: stats, onReady: promise, mode: mode)
                        )
                    case .ws:
                        try WebSocketSubscriber.configure(channel, host: host, path: path, stats: stats, ready: promise)
                    }
                }
            }
        // Loopback has 28,000 ephemeral ports per source address: use 127.0.0.2 and up.
        if self.host.hasPrefix("127."), let source = try? SocketAddress(ipAddress: "127.0.0.\(self.sourceBase + index / 20000)", port: 0) {
            bootstrap = bootstrap.bind(to: source)
        }
        bootstrap.connect(host: self.host, port: self.port).whenFailure { error in
            stats.failed += 1
            promise.fail(error)
        }
        return promise.futureResult
    }

    /// An SSE stream over HTTP/2: the `index / streamsPerConnection`th connection, on a
    /// loop chosen by that number.
    private func openStream(_ index: Int, path: String, _ http2: HTTP2Connections) -> EventLoopFuture<Void> {
        let number = index / HTTP2Connections.streamsPerConnection
        let loops = Array(self.group.makeIterator())
        let loop = loops[number % loops.count]
        let stats = self.stats[ObjectIdentifier(loop)]!
        let promise = loop.makePromise(of: Void.self)
        let source = self.host.hasPrefix("127.") ? try? SocketAddress(ipAddress: "127.0.0.\(self.sourceBase)", port: 0) : nil
        let host = self.host
        http2.connection(number, loop: loop, host: self.host, port: self.port, source: source).whenComplete { result in
            switch result {
            case .success(let multiplexer):
                HTTP2Connections.openStream(on: multiplexer, subscriber: SSESubscriber(host: host, path: path, stats: stats, onReady: promise))
            case .failure(let error):
                stats.failed += 1
                promise.fail(error)
            }
        }
        return promise.futureResult
    }

    /// Runs `body` on every loop's stats (on that loop) and returns the results.
    func gather<T: Sendable>(_ body: @escaping @Sendable (DeliveryStats) -> T) async throws -> [T] {
        var results: [T] = []
        for loop in self.group.makeIterator() {
            let stats = self.stats[ObjectIdentifier(loop)]!
            results.append(try await loop.submit { body(stats) }.get())
        }
        return results
    }

    /// Counts deliveries of the messages numbered `range` from now on.
    func measure(_ range: Range<Int>) async throws {
        _ = try await self.gather { stats in stats.measured = range }
    }
}
