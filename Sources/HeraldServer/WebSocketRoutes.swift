import HTTPTypes
import HeraldCore
import Hummingbird
import HummingbirdWebSocket
import Logging
import NIOCore
import NIOWebSocket
import ServiceLifecycle
import Synchronization

/// `GET /v1/ws`: WebSocket.
///
/// Query parameters (`topics`, `after`, `client`) subscribe at once; `ack=auto` records
/// every notification sent as the client's cursor. Client messages: `subscribe`,
/// `unsubscribe`, `ack`, `publish` (same checks and durability as REST), `ping`. A frame
/// Herald cannot use gets an `error` and the connection stays open. One task writes
/// everything the connection sends, in order: the subscription's events, and the answers
/// to the messages the reading task posts to the subscription's inbox.
struct WebSocketRoutes: Sendable {
    let services: SubscriptionServices
    let publisher: Publisher
    let configuration: HeraldServerConfiguration

    /// An answer to post back to the writing task.
    struct Outgoing: Sendable {
        var frame: ByteBuffer
    }

    /// Registers the upgrade on `webSocketRouter`, and on `router` a plain GET that
    /// explains what is missing (bad parameters, or no upgrade).
    func add(to router: Router<HeraldRequestContext>, webSocketRouter: Router<HeraldRequestContext>) {
        webSocketRouter.ws("/v1/ws") { request, _ in
            _ = try SubscriptionParameters(request, topicsRequired: false)
            return .upgrade([:])
        } onUpgrade: { inbound, outbound, context in
            await self.serve(inbound: inbound, outbound: outbound, request: context.request, logger: context.logger)
        }
        router.route("/v1/ws", [(.get, { request, _ in
            _ = try SubscriptionParameters(request, topicsRequired: false)
            throw HeraldError(.upgradeRequired, "GET /v1/ws needs a WebSocket upgrade (Connection: Upgrade, Upgrade: websocket)")
        })])
    }

    func serve(inbound: WebSocketInboundStream, outbound: WebSocketOutboundWriter, request: Request, logger: Logger) async {
        guard let parameters = try? SubscriptionParameters(request, topicsRequired: false) else { return }
        let ackAuto = request.query("ack") == "auto"
        let subscription = self.services.makeSubscription(client: parameters.client, inboxCapacity: self.configuration.inboxCapacity)
        let inbox = subscription.inbox
        let maximumFrame = self.configuration.maximumFrame
        let publisher = self.publisher
        let shuttingDown = Atomic<Bool>(false)
        await withGracefulShutdownHandler {
            await withDiscardingTaskGroup { group in
                group.addTask {
                    // Reading: every text frame becomes a command for the writing task.
                    do {
                        for try await message in inbound.messages(maxSize: maximumFrame) {
                            switch message {
                            case .text(let text):
                                inbox.post(WebSocketCommand.parse(text))
                            case .binary:
                                inbox.post(WebSocketCommand.invalid(HeraldError(.invalidBody, "send JSON in text frames"), ref: nil))
                            }
                        }
                    } catch {
                        logger.debug("WebSocket read ended", metadata: ["error": "\(error)"])
                    }
                    inbox.close()
                }
                do {
                    try await self.write(subscription, initial: parameters, ackAuto: ackAuto, to: outbound) { item, ref in
                        // Publishing waits for a commit; the writing goes on meanwhile.
                        group.addTask { await Self.publish(item, ref: ref, with: publisher, answerTo: inbox) }
                    }
                } catch {
                    logger.debug("WebSocket write ended", metadata: ["error": "\(error)"])
                }
                subscription.close()
            }
        } onGracefulShutdown: {
            shuttingDown.store(true, ordering: .relaxed)
            inbox.close()
        }
        // 1001 tells the client the server is going away: reconnect (to another instance).
        try? await outbound.close(shuttingDown.load(ordering: .relaxed) ? .goingAway : .normalClosure, reason: nil)
    }

    /// The writing task: the subscription's events and the answers to commands.
    private func write(
        _ subscription: Subscription,
        initial parameters: SubscriptionParameters,
        ackAuto: Bool,
        to outbound: WebSocketOutboundWriter,
        publish: (PublishItem, String?) -> Void
    ) async throws {
        if !parameters.topics.isEmpty {
            try await self.subscribe(subscription, parameters.topics, after: parameters.after, ref: nil, outbound: outbound)
        }
        while true {
            switch await subscription.next() {
            case .events(let events):
                var delivered: [(topic: String, seq: Int64)] = []
                for event in events {
                    switch event {
                    case .notification(let encoded, let cursor):
                        try await outbound.write(.custom(.init(fin: true, opcode: .text, data: WebSocketFrames.notification(encoded, cursor: cursor))))
                        delivered.append((encoded.topic, encoded.seq))
                    case .reset(let reset, let cursor):
                        try await outbound.write(.custom(.init(fin: true, opcode: .text, data: WebSocketFrames.reset(reset, cursor: cursor))))
                        delivered.append((reset.topic, reset.resumedAfter))
                    }
                }
                if ackAuto, let client = subscription.clientID { self.services.cursors.record(client: client, delivered) }
            case .message(let message):
                if let outgoing = message as? Outgoing {
                    try await self.send(outgoing.frame, to: outbound)
                } else if case .publish(let ref, let item) = message as? WebSocketCommand {
                    publish(item, ref)
                } else if let command = message as? WebSocketCommand {
                    try await self.handle(command, subscription: subscription, outbound: outbound)
                }
            case .heartbeat:
                continue
            case .closed:
                return
            }
        }
    }

    private func handle(_ command: WebSocketCommand, subscription: Subscription, outbound: WebSocketOutboundWriter) async throws {
        switch command {
        case .subscribe(let topics, let after):
            try await self.subscribe(subscription, topics, after: after, ref: nil, outbound: outbound)
        case .unsubscribe(let topics):
            subscription.unsubscribe(topics)
        case .ack(let cursor):
            guard let client = subscription.clientID else {
                try await self.send(WebSocketFrames.error(HeraldError(.invalidClient, "ack needs a client id (client=...)"), ref: nil), to: outbound)
                return
            }
            self.services.cursors.record(client: client, cursor.positions)
        case .ping:
            try await self.send(WebSocketFrames.pong, to: outbound)
        case .invalid(let error, let ref):
            try await self.send(WebSocketFrames.error(error, ref: ref), to: outbound)
        case .publish:
            break  // started by the writing loop, answered through the inbox
        }
    }

    private func subscribe(
        _ subscription: Subscription,
        _ topics: [String],
        after: Cursor,
        ref: String?,
        outbound: WebSocketOutboundWriter
    ) async throws {
        let all = Set(subscription.subscribedTopics).union(topics)
        guard all.count <= PollRequest.maximumTopics else {
            try await self.send(
                WebSocketFrames.error(HeraldError(.invalidTopic, "at most \(PollRequest.maximumTopics) topics per connection"), ref: ref),
                to: outbound
            )
            return
        }
        do {
            let cursor = try await subscription.subscribe(topics, after: after)
            try await self.send(WebSocketFrames.subscribed(topics: subscription.subscribedTopics, cursor: cursor), to: outbound)
        } catch let error as HeraldError {
            try await self.send(WebSocketFrames.error(error, ref: ref), to: outbound)
        }
    }

    private func send(_ frame: ByteBuffer, to outbound: WebSocketOutboundWriter) async throws {
        try await outbound.write(.custom(.init(fin: true, opcode: .text, data: frame)))
    }

    /// Publishes for a `publish` message and posts the answer to the writing task.
    static func publish(_ item: PublishItem, ref: String?, with publisher: Publisher, answerTo inbox: SubscriberInbox) async {
        do {
            let result = try await publisher.publish([item])[0]
            inbox.post(Outgoing(frame: WebSocketFrames.published(ref: ref, notification: result.notification)))
        } catch let error as HeraldError {
            inbox.post(Outgoing(frame: WebSocketFrames.error(error, ref: ref)))
        } catch {
            inbox.post(Outgoing(frame: WebSocketFrames.error(HeraldError(.internalError, "\(error)"), ref: ref)))
        }
    }
}
