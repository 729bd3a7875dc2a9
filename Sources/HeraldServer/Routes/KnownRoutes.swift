import HTTPTypes
import Hummingbird
import Synchronization

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
