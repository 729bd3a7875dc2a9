import Hummingbird

/// `GET /v1/sse` is served by `FastPathHandler` (see `SSEStream`); the router only knows
/// the path, so other methods get `405 method_not_allowed`.
struct SSERoutes: Sendable {
    func add(to router: Router<HeraldRequestContext>) {
        router.route("/v1/sse", [], fastPath: [.get])
    }
}
