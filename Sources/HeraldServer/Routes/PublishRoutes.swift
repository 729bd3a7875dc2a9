import Foundation
import HTTPTypes
import HeraldCore
import Hummingbird

/// `POST /v1/notifications`, `GET /v1/topics/{topic}/notifications/{seq}`, and a single
/// publish (`POST /v1/topics/{topic}/notifications`) on HTTP/2: on HTTP/1 that one is
/// served by `FastPathHandler` before the router. (`DELETE` on that path is the admin's
/// purge.)
struct PublishRoutes: Sendable {
    let publisher: Publisher
    let store: NotificationStore
    let configuration: HeraldServerConfiguration
    let authenticator: Authenticator
    let limits: ClientLimits
    /// The admin's purge, on the same path as a single publish.
    let admin: AdminRoutes

    func add(to router: Router<HeraldRequestContext>) {
        router.route("/v1/topics/{topic}/notifications", [(.post, self.publishOne), (.delete, self.admin.purge)])
        router.route("/v1/notifications", [(.post, self.publishBatch)])
        router.route("/v1/topics/{topic}/notifications/{seq}", [(.get, self.getOne)])
    }

    /// A single publish over HTTP/2, with the fast path's checks in its order: the token,
    /// the body's size, then `FastPathRoutes.checkPublish`.
    @Sendable func publishOne(_ request: Request, context: HeraldRequestContext) async throws -> Response {
        let principal = try await self.authenticator.principal(request)
        let body = try await request.collectBody(limit: self.configuration.maximumPayload)
        let item = try FastPathRoutes.checkPublish(
            request.head, topic: (context.parameters.get("topic") ?? "").pathSegmentDecoded, body: body, principal: principal,
            address: context.remoteIP, limits: self.limits
        )
        let result = try await self.publisher.publish([item])[0]
        let notification = result.notification
        return JSONResponse.make(
            result.replayed ? .ok : .created, notification.json,
            headers: [.location: "/v1/topics/\(notification.topic)/notifications/\(notification.seq)"]
        )
    }

    @Sendable func publishBatch(_ request: Request, context: HeraldRequestContext) async throws -> Response {
        let principal = try await self.authenticator.principal(request)
        // A batch is JSON whatever its type says, unless the type is something else entirely.
        _ = try BodyFormat(contentType: request.headers[.contentType])
        let body = try await request.collectBody(limit: self.configuration.maximumBatchBody)
        let items = try body.withUnsafeReadableBytes { bytes throws(HeraldError) in
            try PublishBodyParser.batch(
                json: bytes, maximumItems: self.configuration.maximumBatch, maximumData: self.configuration.maximumPayload
            )
        }
        try principal.authorize(.publish, topics: items.lazy.map(\.topic))
        try self.limits.admitPublish(principal, address: context.remoteIP, count: items.count)
        let results = try await self.publisher.publish(items)
        var bytes: [UInt8] = []
        bytes.reserveCapacity(results.reduce(32) { $0 + 160 + $1.notification.data.utf8.count })
        bytes.append(contentsOf: #"{"notifications":["#.utf8)
        for (index, result) in results.enumerated() {
            if index > 0 { bytes.append(UInt8(ascii: ",")) }
            result.notification.appendJSON(to: &bytes)
        }
        bytes.append(contentsOf: "]}".utf8)
        return JSONResponse.make(.created, bytes)
    }

    @Sendable func getOne(_ request: Request, context: HeraldRequestContext) async throws -> Response {
        let principal = try await self.authenticator.principal(request)
        let topic = try context.topicParameter()
        try principal.authorize(.subscribe, topic: topic)
        guard let seq = context.parameters.get("seq").flatMap({ Int64($0) }), seq > 0,
            let notification = try await self.store.notification(topic: topic, seq: seq)
        else {
            throw HeraldError(.notFound, "no such notification")
        }
        return JSONResponse.make(.ok, notification.json)
    }
}
