import HTTPTypes
import HeraldCore
import Logging

/// One log line and one count (`herald_http_requests_total`) per request, on every path a
/// request can take (the router, the fast path, WebSocket upgrades), with the request's id,
/// which the answer echoes as `X-Request-Id`.
enum RequestLog {
    static var requestID: HTTPField.Name { HeraldError.requestIDField }

    /// The id of a request: the one it brings (`RequestID.accepting`), else a new one.
    static func id(_ given: String?) -> String { RequestID.accepting(given) }

    /// `path` with the value of `access_token` replaced, so no token reaches a log.
    static func redacted(_ path: String) -> String {
        guard let query = path.firstIndex(of: "?"), path[query...].contains("access_token") else { return path }
        let parameters = path[path.index(after: query)...].split(separator: "&", omittingEmptySubsequences: false).map { parameter in
            parameter.hasPrefix("access_token=") ? "access_token=[redacted]" : String(parameter)
        }
        return String(path[..<query]) + "?" + parameters.joined(separator: "&")
    }

    /// Logs and counts a request answered with `status`; `route` is its route's pattern.
    static func record(
        _ logger: Logger, id: String, method: String, path: String, route: String, status: Int, since start: ContinuousClock.Instant
    ) {
        HeraldMetrics.request(route: route, status: status)
        logger.info(
            "request",
            metadata: [
                "request_id": .string(id), "method": .string(method), "path": .string(self.redacted(path)),
                "status": .stringConvertible(status), "duration_ms": .stringConvertible((ContinuousClock.now - start).milliseconds),
            ]
        )
    }
}

extension Duration {
    /// The duration in milliseconds, with a fraction.
    var milliseconds: Double {
        Double(self.components.seconds) * 1000 + Double(self.components.attoseconds) / 1e15
    }
}
