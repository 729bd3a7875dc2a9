/// A notice the server sent while a statement ran (`RAISE NOTICE`): it arrives before the
/// statement's result, as the server sends it, so it outlives a connection lost before
/// the result came.
public struct PostgresNotice: Sendable, Equatable {
    /// The primary message.
    public var message: String
    /// The detail line, if any.
    public var detail: String?

    /// Creates a notice.
    public init(message: String, detail: String? = nil) {
        self.message = message
        self.detail = detail
    }
}
