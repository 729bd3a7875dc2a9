import HTTPTypes
import Hummingbird

/// Applies the `CORSPolicy` to Hummingbird's routes, and answers preflight `OPTIONS`.
struct HeraldCORSMiddleware<Context: RequestContext>: RouterMiddleware {
    let policy: CORSPolicy

    func handle(_ request: Request, context: Context, next: (Request, Context) async throws -> Response) async throws -> Response {
        let origin = request.headers[.origin]
        if request.method == .options, request.headers[.accessControlRequestMethod] != nil,
            let headers = self.policy.preflightHeaders(for: origin)
        {
            return Response(status: .noContent, headers: headers)
        }
        var response = try await next(request, context)
        if let headers = self.policy.headers(for: origin) {
            for field in headers { response.headers[field.name] = field.value }
        }
        return response
    }
}
