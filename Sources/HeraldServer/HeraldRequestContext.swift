import Hummingbird
import HummingbirdWebSocket

/// The request context of Herald's routes.
public struct HeraldRequestContext: RequestContext, WebSocketRequestContext {
    /// Hummingbird's per-request storage (parameters, logger, ...).
    public var coreContext: CoreRequestContextStorage
    /// The WebSocket handler chosen for an upgrade.
    public let webSocket: WebSocketHandlerReference<HeraldRequestContext>

    /// Creates a context for a request.
    public init(source: ApplicationRequestContextSource) {
        self.coreContext = .init(source: source)
        self.webSocket = .init()
    }

    /// Bodies are read with explicit limits by each route.
    public var maxUploadSize: Int { 64 * 1024 * 1024 }
}
