import HTTPTypes

/// Which browser origins may use the API, and the headers that say so (`--cors-origin`).
///
/// With no origin configured only same-origin pages can read the API (no CORS headers are
/// sent). A request from an allowed origin gets `Access-Control-Allow-Origin` with that
/// origin (`*` allows any).
struct CORSPolicy: Sendable {
    let origins: Set<String>

    static let allowedHeaders = "Content-Type, Authorization, Idempotency-Key, Last-Event-ID"
    static let allowedMethods = "GET, POST, PUT, DELETE, OPTIONS"

    /// The headers to add to the answer for a request from `origin`, if it is allowed.
    func headers(for origin: String?) -> HTTPFields? {
        guard let origin, self.origins.contains("*") || self.origins.contains(origin) else { return nil }
        var headers = HTTPFields()
        headers[.accessControlAllowOrigin] = self.origins.contains("*") ? "*" : origin
        headers[.vary] = "Origin"
        headers[.accessControlExposeHeaders] = "Location, Retry-After"
        return headers
    }

    /// The headers of the answer to a preflight from `origin`, if it is allowed.
    func preflightHeaders(for origin: String?) -> HTTPFields? {
        guard var headers = self.headers(for: origin) else { return nil }
        headers[.accessControlAllowMethods] = Self.allowedMethods
        headers[.accessControlAllowHeaders] = Self.allowedHeaders
        headers[.accessControlMaxAge] = "3600"
        return headers
    }
}
