import HTTPTypes
import HeraldCore
import Hummingbird
import Logging

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
        case .requestTimeout: return .requestTimeout
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
        self.logIfInternal(context.logger)
        return Response(status: self.status, headers: self.headers, body: .init(byteBuffer: ByteBuffer(bytes: self.jsonBody)))
    }

    /// The headers of the error's response: its type, `Retry-After` when retrying later
    /// may succeed, `X-Request-Id` for an internal error.
    var headers: HTTPFields {
        var headers: HTTPFields = [.contentType: "application/json"]
        if self.kind == .unavailable || self.kind == .rateLimited { headers[.retryAfter] = String(self.retryAfter ?? 1) }
        if self.kind == .unauthorized { headers[.wwwAuthenticate] = #"Bearer realm="herald""# }
        if let requestID = self.requestID { headers[Self.requestIDField] = requestID }
        return headers
    }

    static let requestIDField = HTTPField.Name("X-Request-Id")!

    /// The error's whole response on a connection that closes after it (a refused
    /// connection or upgrade, a request cut off): `headers`, the length, `Connection:
    /// close`, `Date` and `Server`.
    var closingResponse: (head: HTTPResponse, body: ByteBuffer) {
        let body = ByteBuffer(bytes: self.jsonBody)
        var headers = self.headers
        headers[.contentLength] = String(body.readableBytes)
        headers[.connection] = "close"
        headers[.date] = HTTPDate.now
        headers[.server] = "Herald"
        return (HTTPResponse(status: self.status, headerFields: headers), body)
    }

    /// Logs an internal error's detail (which the client never sees) with its request id.
    func logIfInternal(_ logger: Logger) {
        guard self.kind == .internalError else { return }
        logger.error(
            "internal error", metadata: ["request_id": "\(self.requestID ?? "-")", "error": "\(self.detail ?? self.message)"]
        )
    }
}
