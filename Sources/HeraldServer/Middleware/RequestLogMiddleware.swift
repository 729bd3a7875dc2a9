import HeraldCore
import Hummingbird

/// The router's side of `RequestLog`: gives each request its id (`context.requestID`),
/// echoes it as `X-Request-Id`, and logs and counts the answer by its route's pattern.
struct RequestLogMiddleware: RouterMiddleware {
    typealias Context = HeraldRequestContext

    func handle(_ request: Request, context: Context, next: (Request, Context) async throws -> Response) async throws -> Response {
        let start = ContinuousClock.now
        var context = context
        context.requestID = RequestLog.id(request.headers[RequestLog.requestID])
        var response: Response
        do {
            response = try await next(request, context)
        } catch {
            // (ErrorMiddleware, inside, answers every error; this is for what escapes it.)
            response = try HeraldError.from(error).identified(by: context.requestID).response(from: request, context: context)
        }
        response.headers[RequestLog.requestID] = context.requestID
        RequestLog.record(
            context.logger, id: context.requestID, method: request.method.rawValue, path: request.uri.description,
            route: context.endpointPath ?? "unmatched", status: response.status.code, since: start
        )
        return response
    }
}
