import Hummingbird
import NIOCore

/// The request context of Herald's routes.
public struct HeraldRequestContext: RequestContext {
    /// Hummingbird's per-request storage (parameters, logger, ...).
    public var coreContext: CoreRequestContextStorage
    /// The IP address the request comes from (the key of anonymous publishers' rate limit).
    public let remoteIP: String?
    /// The request's id (`X-Request-Id`), set by `RequestLogMiddleware`.
    public var requestID: String = ""

    /// Creates a context for a request.
    public init(source: ApplicationRequestContextSource) {
        self.coreContext = .init(source: source)
        self.remoteIP = source.channel.remoteAddress?.ipAddress
    }

    /// Bodies are read with explicit limits by each route.
    public var maxUploadSize: Int { 64 * 1024 * 1024 }
}
