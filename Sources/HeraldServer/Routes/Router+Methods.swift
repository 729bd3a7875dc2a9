import HTTPTypes
import Hummingbird
import Synchronization

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

/// The paths Herald serves and the methods each allows: a request with another method on
/// one of them is `405` with `Allow`, whatever the method (`TRACE`, `OPTIONS`, ...).
enum KnownRoutes {
    /// Path patterns (segments, `{name}` for a parameter) and their `Allow` values. The same
    /// for every router of the process: Herald's routes are constants.
    private static let routes = Mutex<[(segments: [Substring], allow: String)]>([])

    static func add(_ path: String, allow: String) {
        let segments = path.split(separator: "/")
        self.routes.withLock { routes in
            if !routes.contains(where: { $0.segments == segments }) { routes.append((segments, allow)) }
        }
    }

    /// The `Allow` value of the route `path` matches, if any.
    static func allow(for path: String) -> String? {
        let segments = path.split(separator: "/")
        return self.routes.withLock { routes in
            routes.first { route in
                route.segments.count == segments.count
                    && zip(route.segments, segments).allSatisfy { pattern, segment in pattern.hasPrefix("{") || pattern == segment }
            }?.allow
        }
    }

    /// The answer to `method` on a path that allows `allow`.
    static func notAllowed(_ method: HTTPRequest.Method, allow: String) -> HTTPError {
        HTTPError(.methodNotAllowed, headers: [.allow: allow], message: "\(method.rawValue) is not allowed here; use \(allow)")
    }
}
