import HeraldCore
import Hummingbird

/// `GET /v1/ws` without a WebSocket upgrade: says what is missing (what the upgrade's checks
/// refuse: the transport, the token, the parameters, the topics or client against the
/// token; else the upgrade itself).
///
/// A valid upgrade never reaches the router: `HeraldChildChannel` upgrades it and
/// `WebSocketConnection` serves it. Query parameters (`topics`, `after`, `client`)
/// subscribe at once; `ack=auto` records every notification sent as the client's cursor;
/// the messages are in `WebSocketCommand` and `WebSocketFrames`.
struct WebSocketRoutes: Sendable {
    let authenticator: Authenticator
    let transports: Transports

    func add(to router: Router<HeraldRequestContext>) {
        router.route("/v1/ws", [(.get, { [authenticator, transports] request, _ in
            try transports.require(.websocket, "WebSocket")
            // The upgrade's checks, in its order, so that a browser (which cannot see why an
            // upgrade failed) can ask here: their error, else 426.
            let principal = try await authenticator.principal(request, queryToken: true)
            _ = try WebSocketRequest.checkParameters(request.uri, principal)
            throw HeraldError(.upgradeRequired, "GET /v1/ws needs a WebSocket upgrade (Connection: Upgrade, Upgrade: websocket)")
        })])
    }
}
