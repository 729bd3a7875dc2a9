import NIOCore
import NIOHTTP1

/// Tells a connection's task whether the connection became an event stream.
///
/// Hummingbird serves each connection from a task that waits for its next request; that
/// task and its suspended frames cost about 8 KiB, as long as the connection lives. An
/// SSE stream on its first request never has a next request for Hummingbird (the
/// connection is the stream's until it closes), so `HeraldChildChannel` waits on this
/// handler's `decision` first: `true` and the task ends, leaving the connection to
/// `FastPathHandler`; `false` and Hummingbird serves the connection as usual.
///
/// Added to every connection's pipeline when it is accepted; it leaves the pipeline once
/// decided. The decision is `false` when the first request is anything but a stream that
/// started (decided by `FastPathHandler`), when the connection upgrades to WebSocket, when
/// the upgrade fails, and when the connection closes first.
final class StreamHandOff: ChannelInboundHandler, RemovableChannelHandler {
    typealias InboundIn = NIOAny

    /// Completed once: whether the connection belongs to an event stream.
    let decision: EventLoopFuture<Bool>
    private let promise: EventLoopPromise<Bool>
    private var decided = false
    private var context: ChannelHandlerContext?

    init(eventLoop: any EventLoop) {
        self.promise = eventLoop.makePromise(of: Bool.self)
        self.decision = self.promise.futureResult
    }

    func handlerAdded(context: ChannelHandlerContext) {
        self.context = context
    }

    func handlerRemoved(context: ChannelHandlerContext) {
        self.context = nil
        self.decide(stream: false)
    }

    /// Records the decision (the first one counts) and leaves the pipeline (on the event loop).
    func decide(stream: Bool) {
        guard !self.decided else { return }
        self.decided = true
        self.promise.succeed(stream)
        if let context {
            context.pipeline.syncOperations.removeHandler(context: context, promise: nil)
        }
    }

    func userInboundEventTriggered(context: ChannelHandlerContext, event: Any) {
        if event is HTTPServerUpgradeEvents { self.decide(stream: false) }
        context.fireUserInboundEventTriggered(event)
    }

    func errorCaught(context: ChannelHandlerContext, error: any Error) {
        self.decide(stream: false)
        context.fireErrorCaught(error)
    }

    func channelInactive(context: ChannelHandlerContext) {
        self.decide(stream: false)
        context.fireChannelInactive()
    }
}
