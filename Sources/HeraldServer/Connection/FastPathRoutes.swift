import Foundation
import HTTPTypes
import HeraldCore
import HummingbirdCore
import Logging
import NIOCore

/// What the fast path serves, and what it needs to serve it.
struct FastPathRoutes: Sendable {
    /// A request the fast path takes.
    enum Route: Equatable {
        /// `POST /v1/topics/{topic}/notifications`
        case publish(topic: String)
        /// `GET /v1/sse`
        case sse
    }

    /// Where internal errors are logged.
    let logger: Logger
    let publisher: Publisher
    let subscriptions: SubscriptionServices
    let configuration: HeraldServerConfiguration
    let cors: CORSPolicy
    let authenticator: Authenticator
    let limits: ClientLimits

    var maximumPayload: Int { self.configuration.maximumPayload }

    static let idempotencyKey = HTTPField.Name("Idempotency-Key")!

    /// The route of `request`, if the fast path serves it.
    func match(_ request: HTTPRequest) -> Route? {
        guard let fullPath = request.path else { return nil }
        let path = fullPath.split(separator: "?", maxSplits: 1, omittingEmptySubsequences: false)[0]
        switch request.method {
        case .get where path == "/v1/sse":
            return .sse
        case .post:
            let segments = path.split(separator: "/", omittingEmptySubsequences: false)
            guard segments.count == 5, segments[0].isEmpty, segments[1] == "v1", segments[2] == "topics", !segments[3].isEmpty,
                segments[4] == "notifications"
            else { return nil }
            return .publish(topic: segments[3].pathSegmentDecoded)
        default:
            return nil
        }
    }

    /// Checks a single publish of `principal` from `address` (the fast path's, and the
    /// router's on HTTP/2), its body's size checked already: its body, then the token's
    /// patterns, then the client's rate.
    static func checkPublish(
        _ request: HTTPRequest, topic: String, body: ByteBuffer, principal: Principal, address: String?, limits: ClientLimits
    ) throws(HeraldError) -> PublishItem {
        let item = try Self.parsePublish(request, topic: topic, body: body)
        try principal.authorize(.publish, topic: item.topic)
        try limits.admitPublish(principal, address: address)
        return item
    }

    /// Checks a single publish's body, as `PublishBodyParser` does for every transport.
    static func parsePublish(_ request: HTTPRequest, topic: String, body: ByteBuffer) throws(HeraldError) -> PublishItem {
        guard NameRules.isValidTopic(topic) else {
            throw HeraldError(.invalidTopic, "topic must match \(NameRules.topicPattern), got '\(topic.prefix(140))'")
        }
        let format = try BodyFormat(contentType: request.headerFields[.contentType])
        let key = request.headerFields[Self.idempotencyKey]
        return try body.withUnsafeReadableBytes { bytes throws(HeraldError) in
            switch format {
            case .json: try PublishBodyParser.single(topic: topic, json: bytes, idempotencyKey: key)
            case .text: try PublishBodyParser.single(topic: topic, text: bytes, idempotencyKey: key)
            }
        }
    }
}
