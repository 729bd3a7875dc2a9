import HTTPTypes
import Hummingbird

extension Router {
    /// Registers `handlers` for `path`, and a `405 method_not_allowed` (with `Allow`) for
    /// every other common method, so a known path with the wrong method is told so rather
    /// than answered 404.
    func route(
        _ path: RouterPath,
        _ handlers: [(HTTPRequest.Method, @Sendable (Request, Context) async throws -> Response)]
    ) {
        let allowed = handlers.map(\.0)
        for (method, handler) in handlers {
            self.on(path, method: method, use: handler)
        }
        let allow = (allowed + (allowed.contains(.get) ? [.head] : [])).map(\.rawValue).joined(separator: ", ")
        for method in [HTTPRequest.Method.get, .post, .put, .delete, .patch] where !allowed.contains(method) {
            self.on(path, method: method) { _, _ -> Response in
                throw HTTPError(.methodNotAllowed, headers: [.allow: allow], message: "\(method.rawValue) is not allowed here; use \(allow)")
            }
        }
    }
}
