import HeraldCore
import Hummingbird
import ServiceLifecycle

/// `GET /v1/sse` through the router, which serves it on HTTP/2 (TLS with ALPN `h2`).
///
/// On HTTP/1 `FastPathHandler` serves event streams before they reach the router (see
/// `SSEStream`); its chunks are HTTP/1 framed and written below the HTTP encoder, so
/// HTTP/2 has this path of its own: the same opening (`SSEOpening`), the same encoding,
/// written through Hummingbird's response body by the subscription's task. It ends on
/// graceful shutdown, when the client goes, and at the token's expiry.
struct SSERoutes: Sendable {
    let routes: FastPathRoutes

    func add(to router: Router<HeraldRequestContext>) {
        router.route("/v1/sse", [(.get, self.stream), (.head, self.head)])
    }

    /// `HEAD /v1/sse`: the answer a `GET` would start with, its checks made, no stream opened.
    @Sendable func head(_ request: Request, context: HeraldRequestContext) async throws -> Response {
        _ = try await SSEOpening.check(request.headers, uri: request.uri, routes: self.routes)
        return Response(status: .ok, headers: SSEOpening.headers)
    }

    @Sendable func stream(_ request: Request, context: HeraldRequestContext) async throws -> Response {
        let routes = self.routes
        let opening = try await SSEOpening.open(request.headers, uri: request.uri, routes: routes)
        // The admission goes with the body: released when it ends, or when the body never
        // runs (the stream was reset before its head went out).
        let (client, principal, admission, preamble) = (opening.client, opening.principal, opening.admission, opening.preamble)
        let handOver = HandOver(opening.subscription)
        // (CORS headers: HeraldCORSMiddleware.)
        return Response(
            status: .ok, headers: SSEOpening.headers,
            body: ResponseBody { writer in
                let subscription = handOver.take()
                let inbox = subscription.inbox
                HeraldMetrics.connection(.sse, by: 1)
                HeraldMetrics.subscriber(.sse, by: 1)
                // The stream ends when its token expires.
                let expiry = principal.remaining().map { remaining in
                    Task {
                        try await Task.sleep(for: remaining)
                        inbox.close()
                    }
                }
                do {
                    try await writer.write(SSEChunk.unframed(preamble))
                    try await withGracefulShutdownHandler {
                        try await Self.deliver(subscription, client: client, policy: routes.subscriptions.policy, to: &writer)
                    } onGracefulShutdown: {
                        inbox.close()
                    }
                } catch {
                    // The client went away (a write failed): end.
                }
                expiry?.cancel()
                subscription.close()
                admission?.release()
                HeraldMetrics.connection(.sse, by: -1)
                HeraldMetrics.subscriber(.sse, by: -1)
                try? await writer.finish(nil)
            }
        )
    }

    /// Writes the subscription's events until it closes. A write returns once the
    /// stream took the bytes, and the client's cursor moves then.
    private static func deliver(
        _ subscription: Subscription, client: String?, policy: CursorPolicy, to writer: inout any ResponseBodyWriter
    ) async throws {
        while true {
            switch await subscription.next() {
            case .events(let events):
                // A page of history's turn (`Hub.pageTurns`) ends before the write: the writer
                // returns only once HTTP/2's flow control lets it, which a slow reader holds up.
                subscription.takePageTurn()?.end()
                try await writer.write(SSEChunk.unframed(SSEEncoding.encode(events)))
                HeraldMetrics.delivered(events.count(where: \.isNotification), over: .sse)
                if let client { policy.delivered(client: client, subscription.marks(events.map(\.position))) }
            case .heartbeat:
                try await writer.write(SSEChunk.unframed(SSEEncoding.keepAlive()))
            case .message:
                continue
            case .closed:
                return
            }
        }
    }
}
