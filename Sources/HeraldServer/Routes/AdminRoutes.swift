import Foundation
import HeraldCore
import Hummingbird

/// The admin API (docs/api.md, "Admin"), with an admin token when authentication is on:
/// `GET /v1/topics`, `GET /v1/topics/{topic}`, `PUT` and `DELETE
/// /v1/clients/{client}/cursors/{topic}`, and the purge, `DELETE
/// /v1/topics/{topic}/notifications?through_seq=N` (registered with that path's publish by
/// `PublishRoutes`). Each calls `Admin`, as the command line does.
struct AdminRoutes: Sendable {
    let admin: Admin
    let authenticator: Authenticator

    /// The most topics one `GET /v1/topics` lists (`limit`'s range).
    static let maximumTopics = 1000

    func add(to router: Router<HeraldRequestContext>) {
        router.route("/v1/topics", [(.get, self.topics)])
        router.route("/v1/topics/{topic}", [(.get, self.topic)])
        router.route("/v1/clients/{client}/cursors/{topic}", [(.put, self.setCursor), (.delete, self.forgetCursor)])
    }

    @Sendable func topics(_ request: Request, context: HeraldRequestContext) async throws -> Response {
        try await self.authenticator.principal(request).authorizeAdmin()
        var limit = Self.maximumTopics
        if let text = request.query("limit") {
            guard let value = Int(text), (1...Self.maximumTopics).contains(value) else {
                throw HeraldError(.invalidParameter, "limit is a whole number from 1 to \(Self.maximumTopics)")
            }
            limit = value
        }
        var bytes: [UInt8] = []
        TopicInfo.appendJSON(try await self.admin.topics(after: request.query("after") ?? "", limit: limit), to: &bytes)
        return JSONResponse.make(.ok, bytes)
    }

    @Sendable func topic(_ request: Request, context: HeraldRequestContext) async throws -> Response {
        try await self.authenticator.principal(request).authorizeAdmin()
        var bytes: [UInt8] = []
        try await self.admin.topic(try context.topicParameter()).appendJSON(to: &bytes)
        return JSONResponse.make(.ok, bytes)
    }

    /// The body of a cursor set: `{"seq": N}`.
    private struct CursorBody: Decodable {
        var seq: Int64
    }

    @Sendable func setCursor(_ request: Request, context: HeraldRequestContext) async throws -> Response {
        try await self.authenticator.principal(request).authorizeAdmin()
        let (client, topic) = try Self.clientAndTopic(context)
        let body = try await request.collectBody(limit: 4096)
        guard (try? JSONSerialization.jsonObject(with: Data(body.readableBytesView), options: [.fragmentsAllowed])) != nil else {
            throw HeraldError(.invalidJSON, "the body is not JSON")
        }
        guard let seq = try? JSONDecoder().decode(CursorBody.self, from: Data(body.readableBytesView)).seq else {
            throw HeraldError(.invalidBody, #"the body is {"seq": N}, N a whole number from 0 to the topic's last seq"#)
        }
        var bytes: [UInt8] = []
        try await self.admin.setCursor(client: client, topic: topic, seq: seq).appendJSON(to: &bytes)
        return JSONResponse.make(.ok, bytes)
    }

    @Sendable func forgetCursor(_ request: Request, context: HeraldRequestContext) async throws -> Response {
        try await self.authenticator.principal(request).authorizeAdmin()
        let (client, topic) = try Self.clientAndTopic(context)
        try await self.admin.forgetCursor(client: client, topic: topic)
        return Response(status: .noContent)
    }

    /// `DELETE /v1/topics/{topic}/notifications?through_seq=N`.
    @Sendable func purge(_ request: Request, context: HeraldRequestContext) async throws -> Response {
        try await self.authenticator.principal(request).authorizeAdmin()
        let topic = try context.topicParameter()
        guard let text = request.query("through_seq"), let seq = Int64(text), seq >= 1 else {
            throw HeraldError(.invalidParameter, "through_seq is a positive whole number, at most the topic's last seq")
        }
        var bytes: [UInt8] = []
        try await self.admin.purge(topic: topic, through: seq).appendJSON(to: &bytes)
        return JSONResponse.make(.ok, bytes)
    }

    /// The `{client}` and `{topic}` path parameters, checked.
    private static func clientAndTopic(_ context: HeraldRequestContext) throws(HeraldError) -> (String, String) {
        (try context.clientParameter(), try context.topicParameter())
    }
}
