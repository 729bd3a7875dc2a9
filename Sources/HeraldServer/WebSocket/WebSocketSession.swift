import HeraldCore
import NIOCore
import Synchronization

/// The task side of one WebSocket connection: its subscription, the commands the client
/// sends, and everything written back, in order.
///
/// `WebSocketConnection` (the channel handler) posts each text frame to the
/// subscription's inbox as a `WebSocketCommand`; one task at a time (a
/// `SubscriptionDriver`'s, none while the connection idles) takes the subscription's events
/// and those commands in turn and writes the answers through the handler on the event
/// loop, waiting while the socket is full (the inbox then fills, and the subscription
/// falls back to reading PostgreSQL at the reader's pace). A publish is handed to the
/// publisher, whose answer is posted back, so the writing goes on while it waits for a
/// commit. Each message is reported answered to the handler once its answer is handed to
/// the event loop to write (a publish's, once the commit's answer is), which bounds how many the client may have
/// outstanding (`WebSocketConnection.maximumUnanswered`).
final class WebSocketSession: Sendable {
    /// An answer to post back to the writing task.
    struct Outgoing: Sendable {
        var frame: ByteBuffer
    }

    let connection: WebSocketConnection
    let loop: any EventLoop
    let routes: FastPathRoutes
    let inbox: SubscriberInbox
    /// Who the connection is from: every subscribe and publish is checked against it.
    let principal: Principal
    /// The IP address of the client (the key of an anonymous publisher's rate limit).
    let address: String?
    private let goingAway = Atomic<Bool>(false)
    /// Whether it counts as a live subscriber (only the session's task changes it).
    private let isLive = Atomic<Bool>(false)

    /// Starts serving: subscribes to the query's topics and writes until `end`.
    init(connection: WebSocketConnection, loop: any EventLoop, routes: FastPathRoutes, request: WebSocketRequest, address: String?) {
        self.connection = connection
        self.loop = loop
        self.routes = routes
        self.principal = request.principal
        self.address = address
        let (parameters, ackAuto) = (request.parameters, request.ackAuto)
        // Live notifications go straight to the socket on its loop; with ack=auto, each
        // write moves the client's cursor.
        let sink = WebSocketLiveSink(
            connection: connection, loop: loop,
            cursors: ackAuto ? request.client.map { (routes.subscriptions.policy, $0) } : nil
        )
        let subscription = routes.subscriptions.makeSubscription(
            client: request.client, inboxCapacity: routes.configuration.inboxCapacity, sink: sink,
            // Pings on the connection's own timer keep it alive (`WebSocketConnection`).
            wantsHeartbeats: false
        )
        sink.state.attach(subscription.inbox)
        self.inbox = subscription.inbox
        let handOver = HandOver(subscription)
        Task {
            let subscription = handOver.take()
            if !parameters.topics.isEmpty {
                await self.subscribe(subscription, parameters.topics, after: parameters.after, ref: nil)
            }
            // While the sink delivers, no task waits (`SubscriptionDriver`).
            SubscriptionDriver.start(subscription) { subscription, next in
                await self.deliver(next, of: subscription, ackAuto: ackAuto)
            }
        }
    }

    /// A text frame from the client.
    func received(_ text: String) {
        self.inbox.post(WebSocketCommand.parse(text, maximumData: self.routes.configuration.maximumPayload))
    }

    /// A binary frame from the client (Herald speaks JSON in text frames).
    func receivedBinary() {
        self.inbox.post(WebSocketCommand.invalid(HeraldError(.invalidBody, "send JSON in text frames"), ref: nil))
    }

    /// Ends the session: the connection closed, or (`goingAway`) the server shuts down.
    func end(goingAway: Bool) {
        if goingAway { self.goingAway.store(true, ordering: .relaxed) }
        self.inbox.close()
    }

    /// Delivers what `next()` returned; returns whether to go on.
    private func deliver(_ next: Subscription.Next, of subscription: Subscription, ackAuto: Bool) async -> Bool {
        switch next {
        case .events(let events):
            HeraldMetrics.delivered(events.count(where: \.isNotification), over: .websocket)
            // With ack=auto the client's cursor moves once the frames are written.
            var written: (@Sendable () -> Void)? = nil
            if ackAuto, let client = subscription.clientID {
                let delivered = events.map(\.position)
                let (policy, marks) = (self.routes.subscriptions.policy, subscription.marks(delivered))
                written = { policy.delivered(client: client, marks) }
            }
            await self.send(WebSocketFrames.encode(events), whenWritten: written, turn: subscription.takePageTurn())
        case .message(let message):
            if let outgoing = message as? Outgoing {
                await self.send([outgoing.frame])
                self.answered()
            } else if let command = message as? WebSocketCommand {
                if await self.handle(command, subscription: subscription) { self.answered() }
            }
        case .heartbeat:
            break  // not sent: this inbox wants none (the connection pings instead)
        case .closed:
            subscription.close()
            self.countLive(false)
            let goingAway = self.goingAway.load(ordering: .relaxed)
            // 1001 tells the client the server is going away: reconnect (to another instance).
            self.loop.execute { self.connection.finish(goingAway: goingAway) }
            return false
        }
        return true
    }

    /// An `error` frame; an internal error's detail goes to the log.
    func errorFrame(_ error: HeraldError, ref: String?) -> ByteBuffer {
        error.logIfInternal(self.routes.logger)
        return WebSocketFrames.error(error, ref: ref)
    }

    /// Counts the connection as a live subscriber while it has topics (`herald_live_subscribers`).
    private func countLive(_ live: Bool) {
        guard live != self.isLive.exchange(live, ordering: .relaxed) else { return }
        HeraldMetrics.subscriber(.websocket, by: live ? 1 : -1)
    }

    /// Tells the handler a message of the client's has its answer.
    private func answered() {
        self.loop.execute { self.connection.answered() }
    }

    /// Acts on a command; returns whether it is answered (a publish is answered later).
    private func handle(_ command: WebSocketCommand, subscription: Subscription) async -> Bool {
        switch command {
        case .subscribe(let topics, let after):
            await self.subscribe(subscription, topics, after: after, ref: nil)
        case .unsubscribe(let topics):
            subscription.unsubscribe(topics)
            self.countLive(!subscription.subscribedTopics.isEmpty)
        case .ack(let cursor):
            guard let client = subscription.clientID else {
                await self.send([self.errorFrame(HeraldError(.invalidClient, "ack needs a client id (client=...)"), ref: nil)])
                return true
            }
            do {
                try self.principal.authorize(.subscribe, topics: cursor.positions.lazy.map(\.topic))
                try await self.routes.subscriptions.policy.acknowledge(
                    client: client, subscription.acknowledgeable(cursor), versions: subscription.cursorVersions
                )
            } catch {
                await self.send([self.errorFrame(HeraldError.from(error), ref: nil)])
            }
        case .ping:
            await self.send([WebSocketFrames.pong])
        case .invalid(let error, let ref):
            await self.send([self.errorFrame(error, ref: ref)])
        case .publish(let ref, let item):
            do throws(HeraldError) {
                try self.principal.authorize(.publish, topic: item.topic)
                try self.routes.limits.admitPublish(self.principal, address: self.address)
            } catch {
                await self.send([self.errorFrame(error, ref: ref)])
                return true
            }
            // Publishing waits for a commit; the writing goes on meanwhile.
            self.routes.publisher.submit([item]) { [inbox = self.inbox] result in
                switch result {
                case .success(let results):
                    inbox.post(Outgoing(frame: WebSocketFrames.published(ref: ref, notification: results[0].notification)))
                case .failure(let error):
                    inbox.post(Outgoing(frame: self.errorFrame(error, ref: ref)))
                }
            }
            return false
        }
        return true
    }

    private func subscribe(_ subscription: Subscription, _ topics: [String], after: Cursor, ref: String?) async {
        let all = Set(subscription.subscribedTopics).union(topics)
        guard all.count <= PollRequest.maximumTopics else {
            let error = HeraldError(.invalidTopic, "at most \(PollRequest.maximumTopics) topics per connection")
            await self.send([self.errorFrame(error, ref: ref)])
            return
        }
        do {
            try self.principal.authorize(.subscribe, topics: topics)
            let cursor = try await subscription.subscribe(topics, after: after)
            self.countLive(!subscription.subscribedTopics.isEmpty)
            await self.send([WebSocketFrames.subscribed(topics: subscription.subscribedTopics, cursor: cursor)])
        } catch {
            let error = HeraldError.from(error)
            await self.send([self.errorFrame(error, ref: ref)])
        }
    }

    /// Writes text frames on the event loop; waits while the socket is full. `whenWritten`
    /// runs once the socket has taken them; `turn` (a page of history's, `Hub.pageTurns`)
    /// ends once the loop has written them.
    private func send(_ frames: [ByteBuffer], whenWritten: (@Sendable () -> Void)? = nil, turn: Turn? = nil) async {
        guard !frames.isEmpty else { return }
        self.loop.execute {
            self.connection.send(frames, whenWritten: whenWritten)
            turn?.end()
        }
        if !self.connection.isWritable {
            await withCheckedContinuation { continuation in
                self.loop.execute { self.connection.whenWritable(continuation) }
            }
        }
    }

}
