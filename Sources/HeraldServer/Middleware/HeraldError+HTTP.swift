import HTTPTypes
import HeraldCore
import Hummingbird

/// The one place Herald errors become HTTP responses:
/// `{"error":{"code":"...","message":"..."}}` with a fitting status.
extension HeraldError: HTTPResponseError {
    public var status: HTTPResponse.Status {
        switch self.kind {
        case .invalidJSON, .invalidBody, .invalidTopic, .invalidEvent, .invalidCursor, .invalidClient, .invalidParameter,
            .missingData:
            return .badRequest
        case .payloadTooLarge, .batchTooLarge: return .contentTooLarge
        case .unauthorized: return .unauthorized
        case .forbidden: return .forbidden
        case .notFound: return .notFound
        case .methodNotAllowed: return .methodNotAllowed
        case .unsupportedMediaType: return .unsupportedMediaType
        case .upgradeRequired: return .init(code: 426, reasonPhrase: "Upgrade Required")
        case .rateLimited: return .tooManyRequests
        case .unavailable: return .serviceUnavailable
        case .internalError: return .internalServerError
        }
    }

    /// The error's JSON body.
    public var jsonBody: [UInt8] {
        var bytes: [UInt8] = []
        bytes.append(contentsOf: #"{"error":{"code":""#.utf8)
        bytes.append(contentsOf: self.code.utf8)
        bytes.append(contentsOf: #"","message":"#.utf8)
        JSONString.appendQuoted(self.message, to: &bytes)
        bytes.append(contentsOf: "}}".utf8)
        return bytes
    }

    public func response(from request: Request, context: some RequestContext) throws -> Response {
        var headers: HTTPFields = [.contentType: "application/json"]
        if self.kind == .unavailable || self.kind == .rateLimited { headers[.retryAfter] = "1" }
        return Response(status: self.status, headers: headers, body: .init(byteBuffer: ByteBuffer(bytes: self.jsonBody)))
    }
}
