import Foundation
import NIOHTTP1
import Testing

@Suite("The browser's side: /, /herald.js and /herald.mjs, and the cursor a stream starts from")
struct BrowserAssetsTests {
    @Test("/, /herald.js and /herald.mjs are served without a token with authentication on, with their types, an ETag (304 on If-None-Match) and HEAD; other methods 405")
    func assets() async throws {
        let server = try await AuthenticationTests.start()
        defer { Task { await server.stop() } }
        let page = try await TestHTTP.get("\(server.baseURL)/")
        #expect(page.status == 200)
        #expect(page.header("Content-Type") == "text/html; charset=utf-8")
        #expect(page.text.contains(#"<script src="/herald.js"></script>"#))
        #expect(page.header("Content-Security-Policy")?.contains("default-src 'none'") == true)
        let script = try await TestHTTP.get("\(server.baseURL)/herald.js")
        #expect(script.status == 200)
        #expect(script.header("Content-Type") == "text/javascript; charset=utf-8")
        #expect(script.text.contains("global.Herald = { Subscription, HeraldError }"))
        #expect(!script.text.contains("export "), "a classic script has no export statements")
        let module = try await TestHTTP.get("\(server.baseURL)/herald.mjs")
        #expect(module.status == 200)
        #expect(module.text.hasPrefix(script.text), "the module is the script and its exports")
        #expect(module.text.contains("export const Subscription"))
        #expect(module.text.contains("export default globalThis.Herald"))

        let etag = try #require(script.header("ETag"))
        #expect(etag != module.header("ETag"))
        let again = try await TestHTTP.request(.GET, "\(server.baseURL)/herald.js", headers: [("If-None-Match", etag)])
        #expect(again.status == 304)
        #expect(again.body.isEmpty)
        let stale = try await TestHTTP.request(.GET, "\(server.baseURL)/herald.js", headers: [("If-None-Match", #""0""#)])
        #expect(stale.status == 200)
        let head = try await TestHTTP.request(.HEAD, "\(server.baseURL)/herald.mjs")
        #expect(head.status == 200)
        #expect(head.body.isEmpty)
        let post = try await TestHTTP.postJSON("\(server.baseURL)/", "{}")
        #expect(post.status == 405)
        #expect(post.errorCode == "method_not_allowed")
        // The API itself still needs a token.
        #expect(try await TestHTTP.get("\(server.baseURL)/v1/poll?topics=a").status == 401)
    }

    @Test("a plain GET /v1/ws answers what the upgrade would refuse (token, topics, client), else 426: what a browser can ask when an upgrade failed")
    func plainWebSocketGetSaysWhy() async throws {
        let server = try await AuthenticationTests.start()
        defer { Task { await server.stop() } }
        let tokens = try await AuthenticationTests.Tokens.make()
        let bearer = [("Authorization", "Bearer \(tokens.alice)")]
        func ask(_ query: String, _ headers: [(String, String)]) async throws -> TestHTTP.Answer {
            try await TestHTTP.request(.GET, "\(server.baseURL)/v1/ws?\(query)", headers: headers)
        }
        let fine = try await ask("topics=orders.eu", bearer)
        #expect(fine.status == 426)
        #expect(fine.errorCode == "upgrade_required")
        #expect(try await ask("topics=orders.eu", []).status == 401)
        let topic = try await ask("topics=orders.eu,billing.eu", bearer)
        #expect(topic.status == 403)
        #expect(topic.errorCode == "forbidden")
        #expect(try await ask("topics=orders.eu&client=mallory", bearer).status == 403)
        #expect(try await ask("topics=orders.eu&after=nonsense", bearer).errorCode == "invalid_cursor")
        // The same refusals on the upgrade itself.
        let upgrade = try await RawWebSocket.connect(port: server.port, path: "/v1/ws?topics=billing.eu&access_token=\(tokens.alice)")
        defer { upgrade.close() }
        #expect(upgrade.status == 403)
    }

    @Test("an SSE stream starts with id: and its starting cursor, so a stream that ends before its first event resumes where it started, not now")
    func sseStartsWithItsCursor() async throws {
        let server = try await TestServer.start()
        defer { Task { await server.stop() } }
        for index in 1...3 { _ = try await SSETests.publish(server, "p", "\(index)") }

        let stream = try await SSEClient.open("\(server.baseURL)/v1/sse?topics=p,q")
        let started = try #require(await Self.startCursor(of: stream))
        #expect(started == "p:3,q:0")
        stream.close()
        // Published while no stream is open; a reconnect with that id gets it.
        #expect(try await SSETests.publish(server, "p", "4") == 4)
        let resumed = try await SSEClient.open("\(server.baseURL)/v1/sse?topics=p,q", headers: [("Last-Event-ID", started)])
        defer { resumed.close() }
        let event = await resumed.next()
        #expect(event?.seq == 4)
        #expect(event?.id == "p:4,q:0")
    }

    @Test("a topic owed a reset at the start appears at the reset's requested_after, in SSE's first id: and the WebSocket's subscribed cursor")
    func startingCursorBeforeAReset() async throws {
        let server = try await TestServer.start()
        defer { Task { await server.stop() } }
        for index in 1...5 { _ = try await SSETests.publish(server, "r", "\(index)") }
        #expect(try await TestHTTP.request(.DELETE, "\(server.baseURL)/v1/topics/r/notifications?through_seq=3").status == 200)

        let stream = try await SSEClient.open("\(server.baseURL)/v1/sse?topics=r&after=r:1")
        defer { stream.close() }
        #expect(await Self.startCursor(of: stream) == "r:1")
        let reset = await stream.next()
        #expect(reset?.event == "herald.reset")
        #expect(reset?.id == "r:3")
        #expect(await stream.next()?.seq == 4)

        let socket = TestWebSocket.connect(WebSocketTests.url(server, "?topics=r&after=r:1"))
        defer { socket.close() }
        #expect(await socket.next(type: "subscribed")?["cursor"] as? String == "r:1")
        let frame = await socket.next(type: "reset")
        #expect(frame?["resumed_after"] as? Int == 3)
        #expect(frame?["cursor"] as? String == "r:3")
    }

    /// The stream's starting cursor, once it arrived (within 5 s).
    static func startCursor(of stream: SSEClient) async -> String? {
        for _ in 0..<100 {
            if let cursor = stream.startCursor { return cursor }
            try? await Task.sleep(for: .milliseconds(50))
        }
        return nil
    }
}
