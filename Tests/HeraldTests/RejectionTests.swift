import Foundation
import NIOHTTP1
import Testing

@Suite("Bad requests get a clear error and change nothing")
struct RejectionTests {
    struct Case: Sendable, CustomStringConvertible {
        var method: String
        var path: String
        var contentType: String?
        var body: [UInt8]
        var headers: [(String, String)] = []
        var status: Int
        var code: String
        var description: String { "\(self.method) \(self.path) → \(self.status) \(self.code)" }
    }

    static let cases: [Case] = [
        Case(method: "POST", path: "/v1/topics/bad%20topic/notifications", contentType: nil, body: Array("x".utf8), status: 400, code: "invalid_topic"),
        Case(method: "POST", path: "/v1/topics/-dash-first/notifications", contentType: nil, body: Array("x".utf8), status: 400, code: "invalid_topic"),
        Case(method: "POST", path: "/v1/topics/\(String(repeating: "a", count: 129))/notifications", contentType: nil, body: Array("x".utf8), status: 400, code: "invalid_topic"),
        Case(method: "POST", path: "/v1/topics/t/notifications", contentType: "application/json", body: Array(#"{"data":"#.utf8), status: 400, code: "invalid_json"),
        Case(method: "POST", path: "/v1/topics/t/notifications", contentType: "application/json", body: Array(#"{"data":1} x"#.utf8), status: 400, code: "invalid_json"),
        Case(method: "POST", path: "/v1/topics/t/notifications", contentType: "application/json", body: Array(#"{"data":01}"#.utf8), status: 400, code: "invalid_json"),
        Case(method: "POST", path: "/v1/topics/t/notifications", contentType: "application/json", body: [], status: 400, code: "invalid_json"),
        Case(method: "POST", path: "/v1/topics/t/notifications", contentType: "application/json", body: Array(#"{"event":"x"}"#.utf8), status: 400, code: "missing_data"),
        Case(method: "POST", path: "/v1/topics/t/notifications", contentType: "application/json", body: Array(#"[1,2]"#.utf8), status: 400, code: "invalid_body"),
        Case(method: "POST", path: "/v1/topics/t/notifications", contentType: "application/json", body: Array(#"{"event":"has space","data":1}"#.utf8), status: 400, code: "invalid_event"),
        Case(method: "POST", path: "/v1/topics/t/notifications", contentType: "application/json", body: Array(#"{"event":5,"data":1}"#.utf8), status: 400, code: "invalid_event"),
        Case(method: "POST", path: "/v1/topics/t/notifications", contentType: "application/json", body: Array(#"{"data":1,"ttl":0}"#.utf8), status: 400, code: "invalid_body"),
        Case(method: "POST", path: "/v1/topics/t/notifications", contentType: "application/json", body: Array(#"{"data":1,"ttl":"1h"}"#.utf8), status: 400, code: "invalid_body"),
        Case(method: "POST", path: "/v1/topics/t/notifications", contentType: "application/json", body: Array(#"{"data":"\u0000"}"#.utf8), status: 400, code: "invalid_body"),
        Case(method: "POST", path: "/v1/topics/t/notifications", contentType: "application/json", body: Array(#"{"data":"\ud800"}"#.utf8), status: 400, code: "invalid_body"),
        Case(method: "POST", path: "/v1/topics/t/notifications", contentType: "text/plain", body: [0x66, 0xFF, 0x6F], status: 400, code: "invalid_body"),
        Case(method: "POST", path: "/v1/topics/t/notifications", contentType: "application/json", body: Array(#"{"data":1e-20000}"#.utf8), status: 400, code: "invalid_json"),
        Case(method: "POST", path: "/v1/notifications", contentType: "application/json", body: Array(#"{"notifications":[{"topic":"a","data":1},{"topic":"b","data":[1e131072]}]}"#.utf8), status: 400, code: "invalid_json"),
        Case(method: "POST", path: "/v1/notifications", contentType: "application/json", body: Array(#"{"notifications":[{"topic":"a","data":"\#(String(repeating: "x", count: 70_000))"}]}"#.utf8), status: 413, code: "payload_too_large"),
        Case(method: "POST", path: "/v1/notifications", contentType: "application/json", body: Array(#"{"notifications":[{"topic":"a","data":"\#(String(repeating: "x", count: 1_100_000))"}]}"#.utf8), status: 413, code: "payload_too_large"),
        Case(method: "GET", path: "/v1/poll?topics=t&after=t:99", contentType: nil, body: [], status: 400, code: "invalid_cursor"),
        Case(method: "POST", path: "/v1/topics/t/notifications", contentType: "image/png", body: [1, 2], status: 415, code: "unsupported_media_type"),
        Case(method: "POST", path: "/v1/topics/t/notifications", contentType: nil, body: Array("x".utf8), headers: [("Idempotency-Key", String(repeating: "k", count: 129))], status: 400, code: "invalid_parameter"),
        Case(method: "POST", path: "/v1/notifications", contentType: "application/json", body: Array(#"{"notifications":[]}"#.utf8), status: 400, code: "invalid_body"),
        Case(method: "POST", path: "/v1/notifications", contentType: "application/json", body: Array(#"{"items":[]}"#.utf8), status: 400, code: "invalid_body"),
        Case(method: "POST", path: "/v1/notifications", contentType: "application/json", body: Array(#"{"notifications":[{"data":1}]}"#.utf8), status: 400, code: "invalid_topic"),
        Case(method: "POST", path: "/v1/notifications", contentType: "application/json", body: Array(#"{"notifications":[{"topic":"a"}]}"#.utf8), status: 400, code: "missing_data"),
        Case(method: "POST", path: "/v1/notifications", contentType: "application/json", body: Array(#"{"notifications":[{"topic":"a","data":1,"idempotency_key":""}]}"#.utf8), status: 400, code: "invalid_body"),
        Case(method: "POST", path: "/v1/notifications", contentType: "image/png", body: Array("{}".utf8), status: 415, code: "unsupported_media_type"),
        Case(method: "PATCH", path: "/v1/topics/t/notifications", contentType: nil, body: [], status: 405, code: "method_not_allowed"),
        Case(method: "GET", path: "/v1/notifications", contentType: nil, body: [], status: 405, code: "method_not_allowed"),
        Case(method: "POST", path: "/v1/poll", contentType: nil, body: [], status: 405, code: "method_not_allowed"),
        Case(method: "GET", path: "/v1/nothing-here", contentType: nil, body: [], status: 404, code: "not_found"),
        Case(method: "GET", path: "/v1/poll", contentType: nil, body: [], status: 400, code: "invalid_topic"),
        Case(method: "GET", path: "/v1/poll?topics=a,a", contentType: nil, body: [], status: 400, code: "invalid_topic"),
        Case(method: "GET", path: "/v1/poll?topics=a,b&after=a:x", contentType: nil, body: [], status: 400, code: "invalid_cursor"),
        Case(method: "GET", path: "/v1/poll?topics=a,b&after=5", contentType: nil, body: [], status: 400, code: "invalid_cursor"),
        Case(method: "GET", path: "/v1/poll?topics=a&after=c:5", contentType: nil, body: [], status: 400, code: "invalid_cursor"),
        Case(method: "GET", path: "/v1/poll?topics=a&after=a:-1", contentType: nil, body: [], status: 400, code: "invalid_cursor"),
        Case(method: "GET", path: "/v1/poll?topics=a&limit=0", contentType: nil, body: [], status: 400, code: "invalid_parameter"),
        Case(method: "GET", path: "/v1/poll?topics=a&limit=1001", contentType: nil, body: [], status: 400, code: "invalid_parameter"),
        Case(method: "GET", path: "/v1/poll?topics=a&wait=61", contentType: nil, body: [], status: 400, code: "invalid_parameter"),
        Case(method: "GET", path: "/v1/poll?topics=a&client=bad%20client", contentType: nil, body: [], status: 400, code: "invalid_client"),
    ]

    @Test("each bad request gets its status, error code and JSON shape, and the database is unchanged", arguments: Self.cases)
    func rejected(_ rejection: Case) async throws {
        let server = try await TestServer.start()
        defer { Task { await server.stop() } }
        let database = TestDatabase(url: server.databaseURL)
        // Something stored beforehand, so "unchanged" is not "empty".
        _ = try await TestHTTP.request(.POST, "\(server.baseURL)/v1/topics/t/notifications", body: Array("seed".utf8))
        let before = try await database.fingerprint()
        var headers = rejection.headers
        if let type = rejection.contentType { headers.append(("Content-Type", type)) }
        let answer = try await TestHTTP.request(
            .init(rawValue: rejection.method), "\(server.baseURL)\(rejection.path)",
            body: rejection.method == "GET" ? nil : rejection.body, headers: headers
        )
        #expect(answer.status == rejection.status, "\(answer.text)")
        #expect(answer.errorCode == rejection.code, "\(answer.text)")
        #expect(answer.header("Content-Type") == "application/json")
        let error = answer.json["error"] as? [String: Any]
        #expect((error?["message"] as? String)?.isEmpty == false)
        #expect(error?.count == 2)
        if rejection.status == 405 { #expect(answer.header("Allow") != nil) }
        #expect(try await database.fingerprint() == before)
    }
}

@Suite("Methods: HEAD where GET is, 405 with Allow for any other method on a known path")
struct MethodTests {
    @Test("HEAD answers as GET without a body; TRACE, a plain OPTIONS or an unknown method on a known path is 405 with Allow")
    func methods() async throws {
        let server = try await TestServer.start()
        defer { Task { await server.stop() } }
        for path in ["/healthz", "/readyz", "/metrics", "/v1/poll?topics=a", "/v1/clients/a/cursors", "/v1/sse?topics=a"] {
            let head = try await TestHTTP.request(.HEAD, server.baseURL + path)
            #expect(head.status == 200, "HEAD \(path)")
            #expect(head.body.isEmpty, "HEAD \(path)")
        }
        for (method, path, allow) in [
            (HTTPMethod.TRACE, "/healthz", "GET, HEAD"), (.OPTIONS, "/v1/poll", "GET, HEAD"),
            (.RAW(value: "PROPFIND"), "/v1/topics/a/notifications/1", "GET, HEAD"),
            (.HEAD, "/v1/topics/a/notifications", "POST, DELETE"), (.RAW(value: "QUERY"), "/v1/notifications", "POST"),
            (.POST, "/v1/clients/a/cursors/t", "PUT, DELETE"), (.DELETE, "/v1/topics", "GET, HEAD"),
        ] {
            let answer = try await TestHTTP.request(method, server.baseURL + path)
            #expect(answer.status == 405, "\(method) \(path): \(answer.status)")
            #expect(answer.header("Allow") == allow, "\(method) \(path)")
            if method != .HEAD { #expect(answer.errorCode == "method_not_allowed") }
        }
        #expect(try await TestHTTP.request(.TRACE, server.baseURL + "/nowhere").status == 404)
        // A client id with @ arrives percent-encoded from URL encoders.
        #expect(try await TestHTTP.get(server.baseURL + "/v1/clients/a%40b/cursors").json["client"] as? String == "a@b")
    }
}
