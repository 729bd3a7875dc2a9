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
        case rateLimited = "rate_limited"
        case unavailable = "unavailable"
        case internalError = "internal_error"
    }

    /// What kind of refusal this is; its raw value is the wire contract's error code.
    public var kind: Kind
    /// A sentence for a person.
    public var message: String

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

    /// The database cannot be reached; the request changed nothing and may be retried.
    public static let databaseUnavailable = HeraldError(.unavailable, "the database is unavailable; try again shortly")
}
