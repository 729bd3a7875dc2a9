import HTTPTypes
import HeraldCore
import Hummingbird
import ServiceLifecycle

/// `GET /v1/sse`: Server-Sent Events.
///
/// Starts with `retry:`; each notification is an event with `id:` (the cursor after it),
/// `event:` and one `data:` line; a reset is the event `herald.reset`; a `: keep-alive`
/// comment goes out every heartbeat. `Last-Event-ID` resumes exactly after that cursor
/// (and acknowledges it). With a client id, every event written is recorded as that
/// client's cursor (coalesced, about a second late at most). On graceful shutdown the
/// stream ends cleanly, so `EventSource` reconnects (to another instance) and resumes.
struct SSERoutes: Sendable {
    let services: SubscriptionServices
    let configuration: HeraldServerConfiguration

    static let lastEventID = HTTPField.Name("Last-Event-ID")!
    static let accelBuffering = HTTPField.Name("X-Accel-Buffering")!
    /// The reconnection delay suggested to clients, in milliseconds.
    static let retryMilliseconds = 1000

    func add(to router: Router<HeraldRequestContext>) {
        router.route("/v1/sse", [(.get, self.stream)])
    }

    @Sendable func stream(_ request: Request, context: HeraldRequestContext) async throws -> Response {
        let parameters = try SubscriptionParameters(request)
        var explicit = parameters.after
        if let lastEventID = request.headers[Self.lastEventID], !lastEventID.isEmpty {
            let resumed = try Cursor.parse(lastEventID, singleTopic: parameters.topics.count == 1 ? parameters.topics[0] : nil)
            for (topic, seq) in resumed.positions where parameters.topics.contains(topic) {
                explicit[topic] = seq
            }
            if let client = parameters.client {
                self.services.cursors.record(client: client, explicit.positions)
            }
        }
        let subscription = self.services.makeSubscription(client: parameters.client, inboxCapacity: self.configuration.inboxCapacity)
        try await subscription.subscribe(parameters.topics, after: explicit)
        let cursors = self.services.cursors
        let client = parameters.client
        let inbox = subscription.inbox
        let handedOver = HandOver(subscription)
        let body = ResponseBody { writer in
            let subscription = handedOver.take()
            try await withGracefulShutdownHandler {
                try await Self.write(subscription, to: &writer, cursors: client.map { (cursors, $0) })
            } onGracefulShutdown: {
                inbox.close()
            }
            try await writer.finish(nil)
        }
        return Response(
            status: .ok,
            headers: [
                .contentType: "text/event-stream",
                .cacheControl: "no-cache",
                Self.accelBuffering: "no",
            ],
            body: body
        )
    }

    /// Writes the subscription's events until it closes or the client goes.
    static func write(
        _ subscription: Subscription,
        to writer: inout any ResponseBodyWriter,
        cursors: (store: CursorStore, client: String)?
    ) async throws {
        defer { subscription.close() }
        try await writer.write(ByteBuffer(string: "retry: \(Self.retryMilliseconds)\n\n"))
        while true {
            switch await subscription.next() {
            case .events(let events):
                // One buffer per batch (one chunk, one write): each event's own id line,
                // then the bytes encoded once for every subscriber.
                var buffer = ByteBuffer()
                buffer.reserveCapacity(events.count * 64 + events.reduce(0) { total, event in
                    if case .notification(let encoded, _) = event { return total + encoded.sseEventAndData.readableBytes }
                    return total + 128
                })
                var delivered: [(topic: String, seq: Int64)] = []
                delivered.reserveCapacity(events.count)
                for event in events {
                    switch event {
                    case .notification(let encoded, let cursor):
                        buffer.writeStaticString("id: ")
                        buffer.writeString(cursor)
                        buffer.writeStaticString("\n")
                        buffer.writeImmutableBuffer(encoded.sseEventAndData)
                        delivered.append((encoded.topic, encoded.seq))
                    case .reset(let reset, let cursor):
                        var bytes: [UInt8] = []
                        reset.appendJSON(to: &bytes)
                        buffer.writeStaticString("id: ")
                        buffer.writeString(cursor)
                        buffer.writeStaticString("\nevent: herald.reset\ndata: ")
                        buffer.writeBytes(bytes)
                        buffer.writeStaticString("\n\n")
                        delivered.append((reset.topic, reset.resumedAfter))
                    }
                }
                try await writer.write(buffer)
                if let cursors { cursors.store.record(client: cursors.client, delivered) }
            case .heartbeat:
                try await writer.write(ByteBuffer(staticString: ": keep-alive\n\n"))
            case .message:
                continue
            case .closed:
                return
            }
        }
    }
}
