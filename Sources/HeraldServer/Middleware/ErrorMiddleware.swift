import HTTPTypes
import HeraldCore
import Hummingbird
import Logging

/// Gives every error the wire contract's JSON shape: Herald's own errors as they are,
/// Hummingbird's (404, 405, 413, ...) mapped to the matching code, anything else as 500.
struct ErrorMiddleware<Context: RequestContext>: RouterMiddleware {
    func handle(_ request: Request, context: Context, next: (Request, Context) async throws -> Response) async throws -> Response {
        do {
            return try await next(request, context)
        } catch let error as HeraldError {
            let id = (context as? HeraldRequestContext)?.requestID ?? ""
            return try error.identified(by: id).response(from: request, context: context)
        } catch let error as HTTPError {
            // Nothing found for this method: a known path is 405 with its Allow.
            if error.status == .notFound, let allow = KnownRoutes.allow(for: request.uri.path) {
                return try self.answer(KnownRoutes.notAllowed(request.method, allow: allow), request: request, context: context)
            }
            return try self.answer(error, request: request, context: context)
        } catch {
            let id = (context as? HeraldRequestContext)?.requestID ?? ""
            return try HeraldError.from(error).identified(by: id).response(from: request, context: context)
        }
    }

    /// Hummingbird's `error` in the contract's shape, with its headers (`Allow`).
    private func answer(_ error: HTTPError, request: Request, context: Context) throws -> Response {
        var response = try Self.herald(for: error).response(from: request, context: context)
        for field in error.headers where field.name != .contentType && field.name != .contentLength {
            response.headers.append(field)
        }
        return response
    }

    static func herald(for error: HTTPError) -> HeraldError {
        switch error.status {
        case .notFound: return HeraldError(.notFound, error.body ?? "no such resource")
        case .methodNotAllowed: return HeraldError(.methodNotAllowed, error.body ?? "method not allowed")
        case .contentTooLarge: return HeraldError(.payloadTooLarge, error.body ?? "the body is too large")
        case .unsupportedMediaType: return HeraldError(.unsupportedMediaType, error.body ?? "unsupported media type")
        case .unauthorized: return HeraldError(.unauthorized, error.body ?? "unauthorized")
        case .forbidden: return HeraldError(.forbidden, error.body ?? "forbidden")
        case .serviceUnavailable: return HeraldError(.unavailable, error.body ?? "unavailable")
        default:
            let text = error.body ?? error.status.reasonPhrase
            return error.status.code < 500 ? HeraldError(.invalidBody, text) : .internalError("HTTP \(error.status.code): \(text)")
        }
    }
}
