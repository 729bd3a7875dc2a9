import Foundation
import NIOCore
import NIOHTTP1
import NIOPosix

/// Publishes at a fixed rate (open loop) over a few keep-alive connections; each message
/// carries its send time (`"t"`, monotonic nanoseconds) and its number (`"i"`).
final class RatePublisher: @unchecked Sendable {
    // @unchecked Sendable: all state lives on `loop` (the timer, the connections and the
    // counters are used only from tasks scheduled on it).
    enum BodyFormat: String {
        /// `{"data":{"t":..,"i":..}}` as JSON (Herald's publish endpoint).
        case herald
        /// `{"t":..,"i":..}` as the whole body (Nchan's publisher endpoint).
        case raw
    }

    let loop: any EventLoop
    let host: String
    let path: String
    let format: BodyFormat
    private var connections: [PublishConnection] = []
    private(set) var sent = 0
    private(set) var skipped = 0
    private var task: RepeatedTask?

    init(loop: any EventLoop, host: String, path: String, format: BodyFormat) {
        self.loop = loop
        self.host = host
        self.path = path
        self.format = format
    }

    /// Opens `count` connections.
    func connect(port: Int, count: Int) async throws {
        for _ in 0..<count {
            let connection = PublishConnection(host: self.host)
            _ = try await ClientBootstrap(group: self.loop)
                .channelOption(.socketOption(.tcp_nodelay), value: 1)
                .channelInitializer { channel in
                    channel.eventLoop.makeCompletedFuture {
                        try channel.pipeline.syncOperations.addHTTPClientHandlers()
                        try channel.pipeline.syncOperations.addHandler(connection)
                    }
                }
                .connect(host: self.host, port: port).get()
            try await self.loop.submit { self.connections.append(connection) }.get()
        }
    }

    /// Publishes `rate` messages a second until `stop()`.
    func start(rate: Double) async throws {
        let interval = TimeAmount.nanoseconds(Int64(1e9 / rate))
        try await self.loop.submit {
            self.task = self.loop.scheduleRepeatedTask(initialDelay: interval, delay: interval) { _ in self.publishOne() }
        }.get()
    }

    /// The number of the next message.
    func nextNumber() async throws -> Int {
        try await self.loop.submit { self.sent }.get()
    }

    func stop() async throws -> (sent: Int, skipped: Int, failed: Int) {
        try await self.loop.submit {
            self.task?.cancel()
            return (self.sent, self.skipped, self.connections.reduce(0) { $0 + $1.failed })
        }.get()
    }

    /// How long publishes took to be answered.
    func latencies() async throws -> LatencyRecorder {
        try await self.loop.submit {
            var all = LatencyRecorder()
            for connection in self.connections { all.add(connection.latencies) }
            return all
        }.get()
    }

    /// Waits until the messages in flight are answered.
    func drain() async throws {
        for _ in 0..<100 {
            let busy = try await self.loop.submit { self.connections.contains { $0.busy } }.get()
            if !busy { return }
            try await Task.sleep(for: .milliseconds(50))
        }
    }

    private func publishOne() {
        guard let connection = self.connections.first(where: { !$0.busy }) else {
            self.skipped += 1
            return
        }
        let payload = #"{"t":\#(DispatchTime.now().uptimeNanoseconds),"i":\#(self.sent)}"#
        let body = self.format == .herald ? #"{"data":\#(payload)}"# : payload
        self.sent += 1
        connection.send(path: self.path, body: body)
    }
}

/// One keep-alive publishing connection; one request at a time.
final class PublishConnection: ChannelInboundHandler, @unchecked Sendable {
    // @unchecked Sendable: used only on its channel's event loop.
    typealias InboundIn = HTTPClientResponsePart
    typealias OutboundOut = HTTPClientRequestPart

    let host: String
    private var context: ChannelHandlerContext?
    private(set) var busy = false
    private(set) var failed = 0
    private(set) var latencies = LatencyRecorder()
    private var status: UInt = 0
    private var sentAt: UInt64 = 0

    init(host: String) {
        self.host = host
    }

    func handlerAdded(context: ChannelHandlerContext) {
        self.context = context
    }

    func send(path: String, body: String) {
        guard let context = self.context else { return }
        self.busy = true
        self.sentAt = DispatchTime.now().uptimeNanoseconds
        var head = HTTPRequestHead(version: .http1_1, method: .POST, uri: path)
        head.headers.add(name: "Host", value: self.host)
        head.headers.add(name: "Content-Type", value: "application/json")
        head.headers.add(name: "Content-Length", value: String(body.utf8.count))
        context.write(self.wrapOutboundOut(.head(head)), promise: nil)
        context.write(self.wrapOutboundOut(.body(.byteBuffer(ByteBuffer(string: body)))), promise: nil)
        context.writeAndFlush(self.wrapOutboundOut(.end(nil)), promise: nil)
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        switch self.unwrapInboundIn(data) {
        case .head(let head): self.status = head.status.code
        case .body: break
        case .end:
            if !(200..<300).contains(self.status) { self.failed += 1 }
            self.latencies.record(microseconds: (DispatchTime.now().uptimeNanoseconds - self.sentAt) / 1000)
            self.busy = false
        }
    }
}
