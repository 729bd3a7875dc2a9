/// A request Herald refuses, or cannot serve right now, with what the person needs to act.
///
/// Transports map `kind` to their own form (HTTP status and code, WebSocket `error`
/// frame) in one place each.
public struct HeraldError: Error, Sendable, Equatable, CustomStringConvertible {
    /// The kinds of refusal of the wire contract.
    public enum Kind: String, Sendable, CaseIterable {
        case invalidJSON = "invalid_json"
        case invalidBody = "invalid_body"
        case invalidTopic = "invalid_topic"
        case invalidEvent = "invalid_event"
        case invalidCursor = "invalid_cursor"
        case invalidClient = "invalid_client"
        case invalidParameter = "invalid_parameter"
        case missingData = "missing_data"
        case payloadTooLarge = "payload_too_large"
        case batchTooLarge = "batch_too_large"
        case unauthorized = "unauthorized"
        case forbidden = "forbidden"
        case notFound = "not_found"
        case methodNotAllowed = "method_not_allowed"
        case unsupportedMediaType = "unsupported_media_type"
        case upgradeRequired = "upgrade_required"
        case requestTimeout = "request_timeout"
        case rateLimited = "rate_limited"
        case unavailable = "unavailable"
        case internalError = "internal_error"
    }

    /// What kind of refusal this is; its raw value is the wire contract's error code.
    public var kind: Kind
    /// A sentence for a person.
    public var message: String
    /// For an `internal_error`: what went wrong, for the server's log only (never sent to
    /// a client: it may hold the database's own words).
    public var detail: String?
    /// For an `internal_error`: the id that ties the client's answer to the log line.
    public var requestID: String?
    /// For `unavailable` and `rate_limited`: when to try again, in seconds (`Retry-After`).
    public var retryAfter: Int?

    /// Creates an error.
    public init(_ kind: Kind, _ message: String) {
        self.kind = kind
        self.message = message
    }

    /// The wire contract's error code.
    public var code: String { self.kind.rawValue }

    public var description: String { "\(self.code): \(self.message)" }
}

extension HeraldError {
    static func invalidTopic(_ topic: some StringProtocol) -> HeraldError {
        HeraldError(.invalidTopic, "topic must match \(NameRules.topicPattern), got '\(topic.prefix(140))'")
    }

    static func invalidEvent(_ event: some StringProtocol) -> HeraldError {
        HeraldError(.invalidEvent, "event must match \(NameRules.eventPattern), got '\(event.prefix(80))'")
    }

    /// The database cannot be reached; the request may be retried.
    public static let databaseUnavailable = HeraldError(.unavailable, "the database is unavailable; try again shortly")

    /// A failure that is the server's, not the request's: the client is told only that, with
    /// a request id; `detail` (which may hold the database's own message) goes to the log.
    public static func internalError(_ detail: String) -> HeraldError {
        let id = RequestID.make()
        var error = HeraldError(.internalError, "internal error (request id \(id)); the server's log has the details")
        error.detail = detail
        error.requestID = id
        return error
    }

    /// This error told under request id `id`: an internal error's message and
    /// `requestID` name it (the request's log line has the same id); others are unchanged.
    public func identified(by id: String) -> HeraldError {
        guard self.kind == .internalError, !id.isEmpty else { return self }
        var error = self
        error.message = "internal error (request id \(id)); the server's log has the details"
        error.requestID = id
        return error
    }

    /// `error` as a Herald error: itself, or an internal error carrying it.
    public static func from(_ error: any Error) -> HeraldError {
        error as? HeraldError ?? .internalError(String(describing: error))
    }
}
