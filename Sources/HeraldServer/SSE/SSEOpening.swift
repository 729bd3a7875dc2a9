import HTTPTypes
import HeraldCore
import HummingbirdCore

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
    /// The client id counted against its streams: `release` it when the stream ends.
    let admitted: String?

    static let lastEventID = HTTPField.Name("Last-Event-ID")!

    /// Opens the subscription of an SSE request; `makeSink` gives the live sink for the
    /// stream's client id (nil: events come through the subscription's task).
    static func open(
        _ headers: HTTPFields, uri: URI, routes: FastPathRoutes, makeSink: (String?) -> SSELiveSink? = { _ in nil }
    ) async throws(HeraldError) -> SSEOpening {
        var admitted: String? = nil
        do {
            let principal = try await routes.authenticator.authenticate(RequestToken.find(headers, query: uri))
            let parameters = try SubscriptionParameters(uri)
            try principal.authorize(.subscribe, topics: parameters.topics)
            let client = try principal.clientID(requested: parameters.client)
            if let client {
                try routes.limits.admitStream(client: client)
                admitted = client
            }
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
            do {
                try await subscription.subscribe(parameters.topics, after: explicit, acknowledging: acknowledging)
            } catch {
                subscription.close()
                throw error
            }
            return SSEOpening(subscription: subscription, client: client, principal: principal, admitted: admitted)
        } catch {
            if let admitted { routes.limits.releaseStream(client: admitted) }
            throw HeraldError.from(error)
        }
    }

    /// The stream ended: gives `admitted` (an opening's) its place among its client's streams back.
    static func release(_ admitted: String?, _ routes: FastPathRoutes) {
        if let admitted { routes.limits.releaseStream(client: admitted) }
    }

    /// The response head of a stream.
    static var headers: HTTPFields {
        [.contentType: "text/event-stream", .cacheControl: "no-cache", HTTPField.Name("X-Accel-Buffering")!: "no"]
    }
}
