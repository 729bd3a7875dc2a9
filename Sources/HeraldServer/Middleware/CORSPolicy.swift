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

    /// Whether a browser page of `origin` may open a WebSocket to this server, reached as
    /// `host` (the request's `Host`): the server's own origin, or one of the configured
    /// origins (`*`: any). An upgrade without a web origin (none, or another scheme than
    /// http and https, such as a client library's `ws://host`) does not come from a
    /// browser page and is allowed; `null` (a sandboxed or local page) is not.
    ///
    /// Browsers do not apply CORS to WebSocket: without this check any site its user
    /// visits could subscribe and publish in that user's name.
    func allowsWebSocket(from origin: String?, host: String?) -> Bool {
        guard let origin else { return true }
        if self.origins.contains("*") || self.origins.contains(origin) { return true }
        guard origin == "null" || Self.scheme(of: origin) != nil else { return true }
        guard let host, let authority = Self.authority(of: origin) else { return false }
        return authority.lowercased() == Self.withDefaultPort(host, scheme: Self.scheme(of: origin)).lowercased()
    }

    /// `host:port` of an origin (`https://app.example` → `app.example:443`).
    static func authority(of origin: String) -> String? {
        guard let scheme = Self.scheme(of: origin), let range = origin.firstRange(of: "://") else { return nil }
        let rest = origin[range.upperBound...]
        guard !rest.isEmpty, !rest.contains("/") else { return nil }
        return Self.withDefaultPort(String(rest), scheme: scheme)
    }

    private static func scheme(of origin: String) -> String? {
        guard let range = origin.firstRange(of: "://") else { return nil }
        let scheme = origin[..<range.lowerBound].lowercased()
        return ["http", "https"].contains(scheme) ? scheme : nil
    }

    /// `host` with the scheme's default port made explicit (`a.example` → `a.example:80`).
    private static func withDefaultPort(_ host: String, scheme: String?) -> String {
        // A port follows the last colon, unless that colon is inside an IPv6 literal.
        if let colon = host.lastIndex(of: ":"), !host[colon...].contains("]") { return host }
        return host + (scheme == "https" ? ":443" : ":80")
    }

    /// The headers to add to the answer for a request from `origin`, if it is allowed.
    func headers(for origin: String?) -> HTTPFields? {
        guard let origin, self.origins.contains("*") || self.origins.contains(origin) else { return nil }
        var headers = HTTPFields()
        headers[.accessControlAllowOrigin] = self.origins.contains("*") ? "*" : origin
        headers[.vary] = "Origin"
        headers[.accessControlExposeHeaders] = "Location, Retry-After, X-Request-Id, WWW-Authenticate"
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
