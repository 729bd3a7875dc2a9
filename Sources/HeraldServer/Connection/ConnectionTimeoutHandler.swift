import HTTPTypes
import HeraldCore
import NIOCore
import NIOHTTP1

/// Applies `--request-timeout` and `--idle-timeout` to an HTTP connection (see
/// `ConnectionTimeoutStateMachine`): a client that trickles its request is answered 408
/// and closed, an idle keep-alive connection is closed; requests being answered and event
/// streams are neither. On graceful shutdown it closes the connection as soon as no request
/// is in progress.
///
/// It sits right after the HTTP decoder, so it sees every read complete (even one that
/// decoded nothing: a head arriving a byte at a time) and every request and response part.
/// It leaves the pipeline when the connection upgrades to WebSocket, which keeps itself
/// alive with pings.
final class ConnectionTimeoutHandler: ChannelDuplexHandler, RemovableChannelHandler {
    typealias InboundIn = HTTPServerRequestPart
    typealias InboundOut = HTTPServerRequestPart
    typealias OutboundIn = HTTPServerResponsePart
    typealias OutboundOut = HTTPServerResponsePart

    private var machine: ConnectionTimeoutStateMachine
    /// The one timer, and when it fires.
    private var timer: (task: Scheduled<Void>, at: NIODeadline)?
    /// The server is shutting down gracefully: close once no request is in progress.
    private var quiescing = false

    init(requestTimeout: TimeAmount, idleTimeout: TimeAmount) {
        self.machine = ConnectionTimeoutStateMachine(requestTimeout: requestTimeout, idleTimeout: idleTimeout, now: .now())
    }

    func handlerAdded(context: ChannelHandlerContext) {
        self.armTimer(context: context)
    }

    func handlerRemoved(context: ChannelHandlerContext) {
        self.stop()
    }

    /// Stops counting: the connection ends or upgrades.
    private func stop() {
        self.machine.stop()
        self.timer?.task.cancel()
        self.timer = nil
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        switch self.unwrapInboundIn(data) {
        case .head: self.machine.requestHeadArrived(now: .now())
        case .body: break
        case .end: self.machine.requestEnded()
        }
        context.fireChannelRead(data)
    }

    func channelReadComplete(context: ChannelHandlerContext) {
        self.machine.bytesArrived(now: .now())
        self.armTimer(context: context)
        context.fireChannelReadComplete()
    }

    func write(context: ChannelHandlerContext, data: NIOAny, promise: EventLoopPromise<Void>?) {
        if case .end = self.unwrapOutboundIn(data) {
            self.machine.responseEnded(now: .now())
            self.armTimer(context: context)
            // Shutting down, and that was the last answer owed: close once it is written.
            if self.quiescing, case .waiting = self.machine.phase {
                let written = promise ?? context.eventLoop.makePromise()
                let channel = context.channel
                written.futureResult.whenComplete { _ in channel.close(promise: nil) }
                context.write(data, promise: written)
                return
            }
        }
        context.write(data, promise: promise)
    }

    func userInboundEventTriggered(context: ChannelHandlerContext, event: Any) {
        if event is ChannelShouldQuiesceEvent {
            // Graceful shutdown. A connection between requests (one a browser opened ahead
            // of time and never used included: nothing else closes it before its first
            // request) closes now; one with a request in progress once it is answered.
            self.quiescing = true
            if case .waiting = self.machine.phase {
                context.close(promise: nil)
                return
            }
        }
        if event is HTTPServerUpgradeEvents {
            self.machine.stop()
            context.pipeline.syncOperations.removeHandler(context: context, promise: nil)
        }
        context.fireUserInboundEventTriggered(event)
    }

    func channelInactive(context: ChannelHandlerContext) {
        self.stop()
        context.fireChannelInactive()
    }

    /// Makes the timer fire by the running limit's deadline (a later timer is replaced; an
    /// earlier one fires and looks again).
    private func armTimer(context: ChannelHandlerContext) {
        guard let deadline = self.machine.deadline else { return }
        if let timer = self.timer {
            guard timer.at > deadline else { return }
            timer.task.cancel()
        }
        self.schedule(at: deadline, context: context)
    }

    private func schedule(at deadline: NIODeadline, context: ChannelHandlerContext) {
        let task = context.eventLoop.assumeIsolatedUnsafeUnchecked().scheduleTask(deadline: deadline) {
            self.fired(context: context)
        }
        self.timer = (task, deadline)
    }

    private func fired(context: ChannelHandlerContext) {
        self.timer = nil
        switch self.machine.timerFired(now: .now()) {
        case .none:
            break
        case .schedule(let deadline):
            self.schedule(at: deadline, context: context)
        case .idleTimedOut:
            context.close(promise: nil)
        case .requestTimedOut:
            HeraldMetrics.refused(.requestTimeout)
            var error = HeraldError(.requestTimeout, "the request did not arrive in time; send it whole, then wait for the answer")
            error.requestID = RequestID.make()
            let (response, body) = error.closingResponse
            var headers = HTTPHeaders()
            for field in response.headerFields { headers.add(name: field.name.rawName, value: field.value) }
            let head = HTTPResponseHead(version: .http1_1, status: .init(statusCode: response.status.code), headers: headers)
            context.write(self.wrapOutboundOut(.head(head)), promise: nil)
            context.write(self.wrapOutboundOut(.body(.byteBuffer(body))), promise: nil)
            let channel = context.channel
            context.writeAndFlush(self.wrapOutboundOut(.end(nil))).whenComplete { _ in channel.close(promise: nil) }
        }
    }
}
