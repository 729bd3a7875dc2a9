import HTTPTypes
import HeraldCore

/// The fast path's requests in `RequestLog`: each of its own answers is logged and
/// counted like the router's, with its id echoed as `X-Request-Id`.
extension FastPathHandler {
    /// A request of ours being served.
    struct Current {
        var id: String
        var start: ContinuousClock.Instant
        var method: String
        var path: String
        var route: String
    }

    /// A request of ours starts: its id and time, for its log line.
    func begin(_ request: HTTPRequest, route: String) {
        self.current = Current(
            id: RequestLog.id(request.headerFields[RequestLog.requestID]), start: .now, method: request.method.rawValue,
            path: request.path ?? "", route: route
        )
    }

    /// The id of the request of ours being served.
    var requestID: String { self.current?.id ?? "" }

    /// Logs and counts the request of ours answered with `status`.
    func finish(status: Int) {
        guard let current = self.current else { return }
        self.current = nil
        RequestLog.record(
            self.routes.logger, id: current.id, method: current.method, path: current.path, route: current.route, status: status,
            since: current.start
        )
    }
}
