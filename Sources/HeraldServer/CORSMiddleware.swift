import HTTPTypes
import Hummingbird

/// Cross-origin access for browsers on the origins allowed by `--cors-origin`.
///
/// With no origin configured only same-origin pages can read the API (no CORS headers
/// are sent). A request from an allowed origin gets `Access-Control-Allow-Origin` with
/// that origin (`*` allows any); a preflight `OPTIONS` is answered here with the methods
/// and headers Herald uses.
struct HeraldCORSMiddleware<Context: RequestContext>: RouterMiddleware {
    let origins: Set<String>

    static var allowedHeaders: String { "Content-Type, Authorization, Idempotency-Key, Last-Event-ID" }
    static var allowedMethods: String { "GET, POST, PUT, DELETE, OPTIONS" }

    func handle(_ request: Request, context: Context, next: (Request, Context) async throws -> Response) async throws -> Response {
        guard let origin = request.headers[.origin], self.allows(origin) else {
            return try await next(request, context)
        }
        if request.method == .options, request.headers[.accessControlRequestMethod] != nil {
            var headers = self.headers(for: origin)
            headers[.accessControlAllowMethods] = Self.allowedMethods
            headers[.accessControlAllowHeaders] = Self.allowedHeaders
            headers[.accessControlMaxAge] = "3600"
            return Response(status: .noContent, headers: headers)
        }
        var response = try await next(request, context)
        for field in self.headers(for: origin) { response.headers[field.name] = field.value }
        return response
    }

    func allows(_ origin: String) -> Bool {
        self.origins.contains("*") || self.origins.contains(origin)
    }

    private func headers(for origin: String) -> HTTPFields {
        var headers = HTTPFields()
        headers[.accessControlAllowOrigin] = self.origins.contains("*") ? "*" : origin
        headers[.vary] = "Origin"
        headers[.accessControlExposeHeaders] = "Location, Retry-After"
        return headers
    }
}
