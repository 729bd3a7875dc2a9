import Foundation
import HeraldServer
import NIOHTTP1
import Testing

@Suite("--transports: a transport turned off answers 404 on every path it can take")
struct TransportsTests {
    @Test("WebSocket and SSE off: the upgrade, the plain GET /v1/ws, the SSE fast path and SSE over the router answer 404 with the error JSON; polling still works")
    func streamsOff() async throws {
        let server = try await TestServer.start { $0.server.transports = [.poll, .longpoll] }
        defer { Task { await server.stop() } }
        _ = try await SSETests.publish(server, "a", "1")

        // The upgrade, which never reaches the router: not upgraded, 404 with the error JSON.
        let upgrade = try await RawWebSocket.connect(port: server.port, path: "/v1/ws?topics=a")
        defer { upgrade.close() }
        #expect(upgrade.status == 404, "\(upgrade.response)")
        let body = await upgrade.readUntilClosed(timeout: 5)
        #expect(String(decoding: body.bytes, as: UTF8.self).contains(#""code":"not_found""#))
        // A plain GET /v1/ws (no upgrade) and SSE, on the fast path.
        let plain = try await TestHTTP.get("\(server.baseURL)/v1/ws?topics=a")
        #expect(plain.status == 404)
        #expect(plain.errorCode == "not_found")
        let sse = try await TestHTTP.request(.GET, "\(server.baseURL)/v1/sse?topics=a", headers: [("Accept", "text/event-stream")])
        #expect(sse.status == 404)
        #expect(sse.errorCode == "not_found")
        #expect(sse.header("Content-Type") == "application/json")
        // Polling and long-polling are on.
        let polled = try await TestHTTP.get("\(server.baseURL)/v1/poll?topics=a&after=a:0")
        #expect(AdminTests.seqs(polled) == [1])
        let waited = try await TestHTTP.get("\(server.baseURL)/v1/poll?topics=a&after=a:0&wait=1")
        #expect(AdminTests.seqs(waited) == [1])
    }

    @Test("long-polling off: wait > 0 is 400 invalid_parameter while plain polling works; both off: /v1/poll is 404; WebSocket and SSE still serve")
    func pollingOff() async throws {
        let server = try await TestServer.start { $0.server.transports = [.websocket, .sse, .poll] }
        defer { Task { await server.stop() } }
        _ = try await SSETests.publish(server, "a", "1")
        let waited = try await TestHTTP.get("\(server.baseURL)/v1/poll?topics=a&after=a:0&wait=5")
        #expect(waited.status == 400)
        #expect(waited.errorCode == "invalid_parameter")
        #expect(AdminTests.seqs(try await TestHTTP.get("\(server.baseURL)/v1/poll?topics=a&after=a:0&wait=0")) == [1])
        let stream = try await SSEClient.open("\(server.baseURL)/v1/sse?topics=a&after=a:0")
        defer { stream.close() }
        #expect(await stream.next()?.seq == 1)
        let socket = TestWebSocket.connect(WebSocketTests.url(server, "?topics=a&after=a:0"))
        defer { socket.close() }
        #expect(((await socket.next(type: "notification"))?["notification"] as? [String: Any])?["seq"] as? Int == 1)

        let streamsOnly = try await TestServer.start(databaseURL: server.databaseURL) { $0.server.transports = [.websocket, .sse] }
        defer { Task { await streamsOnly.stop() } }
        for wait in ["0", "5"] {
            let answer = try await TestHTTP.get("\(streamsOnly.baseURL)/v1/poll?topics=a&wait=\(wait)")
            #expect(answer.status == 404, "wait=\(wait)")
            #expect(answer.errorCode == "not_found", "wait=\(wait)")
        }
        let longOnly = try await TestServer.start(databaseURL: server.databaseURL) { $0.server.transports = [.longpoll] }
        defer { Task { await longOnly.stop() } }
        #expect(try await TestHTTP.get("\(longOnly.baseURL)/v1/poll?topics=a&after=a:0").errorCode == "invalid_parameter")
        #expect(AdminTests.seqs(try await TestHTTP.get("\(longOnly.baseURL)/v1/poll?topics=a&after=a:0&wait=1")) == [1])
    }

    @Test("`serve --transports`: an unknown name or none is a usage error (64), an invalid HERALD_TRANSPORTS an error (1); --help names it")
    func commandLine() async throws {
        #expect(try await HeraldProcess.run(["serve", "--transports", "websocket,carrier-pigeon"]).status == 64)
        #expect(try await HeraldProcess.run(["serve", "--transports", ","]).status == 64)
        let environment = try await HeraldProcess.run(["serve", "--port", "0"], environment: ["HERALD_TRANSPORTS": "smoke"])
        #expect(environment.status == 1)
        #expect(environment.output.contains("HERALD_TRANSPORTS"))
        let help = try await HeraldProcess.run(["serve", "--help"])
        #expect(help.output.contains("--transports"))
        #expect(help.output.contains("HERALD_TRANSPORTS"))
        #expect(Transports(list: "sse, poll") == [.sse, .poll])
        #expect(Transports(list: "SSE") == [.sse])
    }
}
