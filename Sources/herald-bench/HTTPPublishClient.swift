import Foundation
import NIOCore
import NIOHTTP1
import NIOPosix

/// One keep-alive HTTP/1.1 connection that publishes back to back: it sends a request,
/// waits for the whole answer, records the latency, and sends the next, until the
/// deadline. Written straight on NIO so the load generator costs little CPU.
final class HTTPPublishClient: ChannelInboundHandler, @unchecked Sendable {
    // @unchecked Sendable: every field is touched only on the channel's event loop (NIO's
    // handler contract); the promise and the final read of `latencies` happen after the
    // channel closed, ordered by the promise's completion.
    typealias InboundIn = HTTPClientResponsePart
    typealias OutboundOut = HTTPClientRequestPart

    struct Result {
        var latencies = LatencyRecorder()
        var errors = 0
        var statusCounts: [UInt: Int] = [:]
    }

    private let host: String
    /// Sent as `Authorization: Bearer` when set.
    private let token: String?
    private let makeRequest: (Int) -> (path: String, body: [UInt8])
    private let deadline: UInt64
    private let done: EventLoopPromise<Result>
    private var result = Result()
    private var sentAt: UInt64 = 0
    private var sequence = 0
    private var status: UInt = 0

    init(
        host: String, token: String?, deadline: UInt64, done: EventLoopPromise<Result>,
        makeRequest: @escaping (Int) -> (path: String, body: [UInt8])
    ) {
        self.host = host
        self.token = token
        self.deadline = deadline
        self.done = done
        self.makeRequest = makeRequest
    }

    func channelActive(context: ChannelHandlerContext) {
        self.sendNext(context: context)
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        switch self.unwrapInboundIn(data) {
        case .head(let head):
            self.status = head.status.code
        case .body:
            break
        case .end:
            let now = DispatchTime.now().uptimeNanoseconds
            self.result.statusCounts[self.status, default: 0] += 1
            if (200..<300).contains(self.status) {
                self.result.latencies.record(microseconds: (now - self.sentAt) / 1000)
            } else {
                self.result.errors += 1
            }
            if now < self.deadline {
                self.sendNext(context: context)
            } else {
                context.close(promise: nil)
            }
        }
    }

    func channelInactive(context: ChannelHandlerContext) {
        self.done.succeed(self.result)
    }

    func errorCaught(context: ChannelHandlerContext, error: any Error) {
        self.result.errors += 1
        context.close(promise: nil)
    }

    private func sendNext(context: ChannelHandlerContext) {
        let request = self.makeRequest(self.sequence)
        self.sequence += 1
        var head = HTTPRequestHead(version: .http1_1, method: .POST, uri: request.path)
        head.headers.add(name: "Host", value: self.host)
        head.headers.add(name: "Content-Type", value: "application/json")
        head.headers.add(name: "Content-Length", value: String(request.body.count))
        if let token = self.token { head.headers.add(name: "Authorization", value: "Bearer \(token)") }
        self.sentAt = DispatchTime.now().uptimeNanoseconds
        context.write(self.wrapOutboundOut(.head(head)), promise: nil)
        context.write(self.wrapOutboundOut(.body(.byteBuffer(context.channel.allocator.buffer(bytes: request.body)))), promise: nil)
        context.writeAndFlush(self.wrapOutboundOut(.end(nil)), promise: nil)
    }
}
