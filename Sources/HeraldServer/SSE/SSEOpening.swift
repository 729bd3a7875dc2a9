import HTTPTypes
import HeraldCore
import HummingbirdCore
import NIOCore

/// An SSE request's subscription, opened the same way on both of its paths: the HTTP/1
/// fast path (`SSEStream`) and the router's, for HTTP/2 (`SSERoutes`).
///
/// The token is checked (header or `access_token`), then the parameters, the topics
/// against the token, the client id, the client's streams; `Last-Event-ID` wins over
/// `after` and acknowledges what it names.
struct SSEOpening {
    /// The subscription, subscribed.
    let subscription: Subscription
    /// The client id it serves, if any.
    let client: String?
    /// Who it is for (its token's expiry ends the stream).
    let principal: Principal
    /// Its place among its client's streams: released when the stream ends.
    let admission: StreamAdmission?
    /// The cursor it starts from (`Subscription.subscribe`'s).
    let cursor: Cursor

    static let lastEventID = HTTPField.Name("Last-Event-ID")!

    /// The checks of an SSE request, in order: SSE offered (`--transports`), its token, its
    /// parameters, its topics against the token, its client id.
    static func check(
        _ headers: HTTPFields, uri: URI, routes: FastPathRoutes
    ) async throws(HeraldError) -> (principal: Principal, parameters: SubscriptionParameters, client: String?) {
        try routes.configuration.transports.require(.sse, "SSE")
        let principal = try await routes.authenticator.authenticate(RequestToken.find(headers, query: uri))
        let parameters = try SubscriptionParameters(uri)
        try principal.authorize(.subscribe, topics: parameters.topics)
        return (principal, parameters, try principal.clientID(requested: parameters.client))
    }

    /// Opens the subscription of an SSE request (`check`ed, its client's streams counted);
    /// `makeSink` gives the live sink for the stream's client id (nil: events come through
    /// the subscription's task).
    static func open(
        _ headers: HTTPFields, uri: URI, routes: FastPathRoutes, makeSink: (String?) -> SSELiveSink? = { _ in nil }
    ) async throws(HeraldError) -> SSEOpening {
        var admission: StreamAdmission? = nil
        do {
            let (principal, parameters, client) = try await Self.check(headers, uri: uri, routes: routes)
            if let client { admission = try routes.limits.admitStream(client: client) }
            var explicit = parameters.after
            // A reconnecting EventSource's Last-Event-ID acknowledges what it names.
            var acknowledging = false
            if let lastEventID = headers[Self.lastEventID], !lastEventID.isEmpty {
                let resumed = try Cursor.parse(lastEventID, singleTopic: parameters.topics.count == 1 ? parameters.topics[0] : nil)
                for (topic, seq) in resumed.positions where parameters.topics.contains(topic) { explicit[topic] = seq }
                acknowledging = true
            }
            let sink = makeSink(client)
            let subscription = routes.subscriptions.makeSubscription(
                client: client, inboxCapacity: routes.configuration.inboxCapacity, sink: sink
            )
            sink?.attach(subscription.inbox)
            let cursor: Cursor
            do {
                cursor = try await subscription.subscribe(parameters.topics, after: explicit, acknowledging: acknowledging)
            } catch {
                subscription.close()
                throw error
            }
            return SSEOpening(subscription: subscription, client: client, principal: principal, admission: admission, cursor: cursor)
        } catch {
            admission?.release()
            throw HeraldError.from(error)
        }
    }


    /// The stream's first bytes: `retry:`, and the cursor it starts from as an `id:` without
    /// data, which dispatches no event but sets what a reconnect sends as `Last-Event-ID`:
    /// a stream that ends before its first event resumes where it started, not "now".
    var preamble: ByteBuffer {
        SSEChunk.framed { $0.writeString("retry: \(SSEStream.retryMilliseconds)\nid: \(self.cursor)\n\n") }
    }

    /// The response head of a stream.
    static var headers: HTTPFields {
        [.contentType: "text/event-stream", .cacheControl: "no-cache", HTTPField.Name("X-Accel-Buffering")!: "no"]
    }
}
