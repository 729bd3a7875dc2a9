import HeraldCore
import HeraldPostgres
import Hummingbird
import Prometheus

/// `/healthz`, `/readyz` and `/metrics`.
struct HealthRoutes: Sendable {
    let pools: [(name: String, pool: PostgresPool)]
    let connections: ConnectionLimit
    let dispatcher: Dispatcher
    let metrics: PrometheusCollectorRegistry?
    let authenticator: Authenticator

    func add(to router: Router<HeraldRequestContext>) {
        router.route("/healthz", [(.get, { _, _ in JSONResponse.make(.ok, Array(#"{"status":"ok"}"#.utf8)) })])
        router.route("/readyz", [(.get, self.ready)])
        router.route("/metrics", [(.get, self.metricsText)])
    }

    /// 200 when the LISTEN connection is up and the database answers within two seconds
    /// as a writable server.
    @Sendable func ready(_ request: Request, context: HeraldRequestContext) async throws -> Response {
        guard self.dispatcher.isListening else {
            throw HeraldError(.unavailable, "the LISTEN connection to the database is down")
        }
        switch await DatabaseReadiness(pools: self.pools.map(\.pool)).check(within: .seconds(2)) {
        case .ready:
            return JSONResponse.make(.ok, Array(#"{"status":"ready"}"#.utf8))
        case .unreachable:
            throw HeraldError(.unavailable, "the database does not answer")
        case .readOnly:
            throw HeraldError(.unavailable, "the database server is read-only (a standby, or fenced); reconnecting to the writable one")
        }
    }

    /// The Prometheus text; with authentication on, for admin tokens only.
    @Sendable func metricsText(_ request: Request, context: HeraldRequestContext) async throws -> Response {
        try await self.authenticator.principal(request).authorizeAdmin()
        HeraldMetrics.sample(httpConnections: self.connections.count, pools: self.pools)
        var bytes: [UInt8] = []
        self.metrics?.emit(into: &bytes)
        return Response(
            status: .ok,
            headers: [.contentType: "text/plain; version=0.0.4"],
            body: .init(byteBuffer: ByteBuffer(bytes: bytes))
        )
    }
}
