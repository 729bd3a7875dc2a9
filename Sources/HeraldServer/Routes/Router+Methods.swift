import HTTPTypes
import Hummingbird

extension Router {
    /// Registers `handlers` for `path`, and a `405 method_not_allowed` (with `Allow`) for
    /// every other method, so a known path with the wrong method is told so rather than
    /// answered 404: the common ones here, any other through `KnownRoutes` (which
    /// `ErrorMiddleware` asks when the router found nothing). A `GET` route answers
    /// `HEAD` too (the router's `autoGenerateHeadEndpoints`).
    func route(
        _ path: String,
        _ handlers: [(HTTPRequest.Method, @Sendable (Request, Context) async throws -> Response)]
    ) {
        let allowed = handlers.map(\.0)
        for (method, handler) in handlers {
            self.on(RouterPath(path), method: method, use: handler)
        }
        let allow = (allowed + (allowed.contains(.get) && !allowed.contains(.head) ? [.head] : [])).map(\.rawValue).joined(separator: ", ")
        KnownRoutes.add(path, allow: allow)
        for method in [HTTPRequest.Method.get, .post, .put, .delete, .patch] where !allowed.contains(method) {
            self.on(RouterPath(path), method: method) { _, _ -> Response in
                throw KnownRoutes.notAllowed(method, allow: allow)
            }
        }
    }
}
