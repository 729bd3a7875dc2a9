import HTTPTypes
import HeraldCore
import HummingbirdCore
import NIOCore
import NIOHTTP1

/// A WebSocket upgrade Herald accepts: its subscription parameters, who it is from, and
/// the client id it acts as (counted against the client's streams until it closes).
struct WebSocketRequest: Sendable {
    /// The query's `topics`, `after` and `client`.
    var parameters: SubscriptionParameters
    /// Whether the query asks for `ack=auto`.
    var ackAuto: Bool
    /// Who the request is from.
    var principal: Principal
    /// The client id it acts as.
    var client: String?
    /// Its place among the client's streams: released when the connection closes (or the
    /// request is dropped without becoming one).
    var admission: StreamAdmission?

    /// Checks an upgrade request and calls `completion` on `loop` with what to do: the
    /// request, or the error to answer instead of upgrading (another path, WebSocket turned
    /// off by `--transports`, a page of another origin, no valid token, parameters not valid or not allowed, too many
    /// streams of its client).
    static func check(
        _ head: HTTPRequestHead, routes: FastPathRoutes, loop: any EventLoop,
        completion: @escaping (Result<WebSocketRequest, HeraldError>) -> Void
    ) {
        let uri = URI(head.uri)
        guard uri.path == "/v1/ws" else { return completion(.failure(HeraldError(.notFound, "WebSocket is served at /v1/ws"))) }
        guard routes.configuration.transports.contains(.websocket) else { return completion(.failure(Transports.disabled("WebSocket"))) }
        let origin = head.headers.first(name: "Origin")
        guard routes.cors.allowsWebSocket(from: origin, host: head.headers.first(name: "Host")) else {
            return completion(
                .failure(
                    HeraldError(.forbidden, "a page of \(origin ?? "") may not open a WebSocket here; allow its origin with --cors-origin")
                )
            )
        }
        var fields = HTTPFields()
        if let authorization = head.headers.first(name: "Authorization") { fields[.authorization] = authorization }
        routes.authenticator.withPrincipal(RequestToken.find(fields, query: uri), on: loop) { principal in
            completion(principal.flatMap { principal in Result { () throws(HeraldError) in try Self.admit(uri, principal, routes) } })
        }
    }

    /// The checks of an upgrade once its token is known: its parameters, and its topics and
    /// client id against the token. (A plain `GET /v1/ws` makes them too, to say why an
    /// upgrade would be refused.)
    static func checkParameters(_ uri: URI, _ principal: Principal) throws(HeraldError) -> (SubscriptionParameters, client: String?) {
        let parameters = try SubscriptionParameters(uri, topicsRequired: false)
        try principal.authorize(.subscribe, topics: parameters.topics)
        return (parameters, try principal.clientID(requested: parameters.client))
    }

    /// The request of `principal` for `uri`, checked and admitted.
    private static func admit(_ uri: URI, _ principal: Principal, _ routes: FastPathRoutes) throws(HeraldError) -> WebSocketRequest {
        let (parameters, client) = try Self.checkParameters(uri, principal)
        let admission = try client.flatMap { client throws(HeraldError) in try routes.limits.admitStream(client: client) }
        return WebSocketRequest(
            parameters: parameters, ackAuto: uri.queryParameters["ack"] == "auto", principal: principal, client: client,
            admission: admission
        )
    }
}
