import Hummingbird

/// The request context of Herald's routes.
public struct HeraldRequestContext: RequestContext {
    /// Hummingbird's per-request storage (parameters, logger, ...).
    public var coreContext: CoreRequestContextStorage

    /// Creates a context for a request.
    public init(source: ApplicationRequestContextSource) {
        self.coreContext = .init(source: source)
    }

    /// Bodies are read with explicit limits by each route.
    public var maxUploadSize: Int { 64 * 1024 * 1024 }
}
