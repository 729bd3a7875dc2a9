import Foundation
import HTTPTypes
import HeraldCore
import Hummingbird

/// `POST /v1/notifications` and `GET /v1/topics/{topic}/notifications/{seq}`; a single
/// publish (`POST /v1/topics/{topic}/notifications`) is served by `FastPathHandler`.
struct PublishRoutes: Sendable {
    let publisher: Publisher
    let store: NotificationStore
    let configuration: HeraldServerConfiguration
    let authenticator: Authenticator
    let limits: ClientLimits

    func add(to router: Router<HeraldRequestContext>) {
        // A single publish is served by FastPathHandler.
        router.route("/v1/topics/{topic}/notifications", [], fastPath: [.post])
        router.route("/v1/notifications", [(.post, self.publishBatch)])
        router.route("/v1/topics/{topic}/notifications/{seq}", [(.get, self.getOne)])
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

extension HeraldRequestContext {
    /// The `{topic}` path parameter, checked.
    func topicParameter() throws(HeraldError) -> String {
        let raw = self.parameters.get("topic") ?? ""
        let topic = raw.contains("%") ? raw.removingPercentEncoding ?? raw : raw
        guard NameRules.isValidTopic(topic) else {
            throw HeraldError(.invalidTopic, "topic must match \(NameRules.topicPattern), got '\(topic.prefix(140))'")
        }
        return topic
    }
}
