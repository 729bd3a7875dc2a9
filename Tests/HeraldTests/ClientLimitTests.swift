import Foundation
import HeraldCore
import HeraldServer
import NIOHTTP1
import Testing

@Suite("Per-client limits")
struct ClientLimitTests {
    @Test("publishes over the client's rate get 429 rate_limited with a Retry-After from its bucket; nothing refused is stored")
    func publishRate() async throws {
        let server = try await AuthenticationTests.start { configuration in
            configuration.server.clientLimits = .init(publishRate: 0.01, publishBurst: 3)
        }
        defer { Task { await server.stop() } }
        let authenticator = Authenticator(secret: AuthenticationTests.secret)
        func token(_ subject: String) async throws -> [(String, String)] {
            let claims = TokenClaims(subject: subject, expiresAt: Date().addingTimeInterval(600), publish: ["*"], subscribe: ["*"])
            return [("Authorization", "Bearer \(try await authenticator.sign(claims))")]
        }
        let alice = try await token("alice")
        let url = "\(server.baseURL)/v1/topics/limited/notifications"
        var statuses: [Int] = []
        var retryAfter: [Int] = []
        for index in 0..<5 {
            let answer = try await TestHTTP.request(.POST, url, body: Array("\(index)".utf8), headers: alice)
            statuses.append(answer.status)
            if answer.status == 429 {
                #expect(answer.errorCode == "rate_limited")
                retryAfter.append(Int(answer.header("Retry-After") ?? "") ?? -1)
            }
        }
        #expect(statuses == [201, 201, 201, 429, 429])
        // 0.01 a second: the next publish is up to 100 s away, not a constant.
        #expect(retryAfter.count == 2 && retryAfter.allSatisfy { (60...100).contains($0) }, "\(retryAfter)")
        // The batch endpoint and WebSocket draw on the same bucket.
        let batch = try await TestHTTP.postJSON("\(server.baseURL)/v1/notifications", #"{"notifications":[{"topic":"limited","data":1}]}"#, headers: alice)
        #expect(batch.status == 429)
        let socket = TestWebSocket.connect("ws://127.0.0.1:\(server.port)/v1/ws?access_token=\(alice[0].1.dropFirst(7))")
        defer { socket.close() }
        socket.send(#"{"type":"publish","ref":"w","topic":"limited","data":1}"#)
        let refused = try #require(await socket.next(type: "error"))
        #expect(refused["code"] as? String == "rate_limited")
        // Another client has a bucket of its own.
        #expect(try await TestHTTP.request(.POST, url, body: Array("bob".utf8), headers: try await token("bob")).status == 201)
        // Exactly the four answered 201 are stored.
        let poll = try await TestHTTP.request(.GET, "\(server.baseURL)/v1/poll?topics=limited&after=limited:0", headers: alice)
        let data = (poll.json["notifications"] as? [[String: Any]])?.compactMap { $0["data"] as? String }
        #expect(data == ["0", "1", "2", "bob"])
    }

    @Test("anonymous publishers are limited by their IP address")
    func anonymousRate() async throws {
        let server = try await TestServer.start { $0.server.clientLimits = .init(publishRate: 0.01, publishBurst: 1) }
        defer { Task { await server.stop() } }
        let url = "\(server.baseURL)/v1/topics/anon/notifications"
        #expect(try await TestHTTP.request(.POST, url, body: Array("a".utf8)).status == 201)
        let refused = try await TestHTTP.request(.POST, url, body: Array("b".utf8))
        #expect(refused.status == 429)
        #expect(Int(refused.header("Retry-After") ?? "").map { (60...100).contains($0) } == true)
    }

    @Test("a client id's streams beyond --max-client-streams get 429; the open ones go on, and a closed one frees its place")
    func streamsPerClient() async throws {
        let server = try await TestServer.start { $0.server.clientLimits = .init(connectionsPerClient: 2) }
        defer { Task { await server.stop() } }
        let first = try await SSEClient.open("\(server.baseURL)/v1/sse?topics=s&client=carol")
        let second = try await RawWebSocket.connect(port: server.port, path: "/v1/ws?topics=s&client=carol")
        #expect(first.status == 200)
        #expect(second.status == 101)
        let third = try await SSEClient.open("\(server.baseURL)/v1/sse?topics=s&client=carol")
        #expect(third.status == 429)
        let fourth = try await RawWebSocket.connect(port: server.port, path: "/v1/ws?topics=s&client=carol")
        #expect(fourth.status == 429)
        fourth.close()
        // Another client id is not affected, nor are the open streams.
        let dave = try await SSEClient.open("\(server.baseURL)/v1/sse?topics=s&client=dave")
        #expect(dave.status == 200)
        dave.close()
        _ = try await SSETests.publish(server, "s", #""live""#)
        #expect(await first.next()?.topic == "s")
        // Closing one frees its place (once the server has seen it go).
        second.close()
        #expect(try await Self.admittedWithin(seconds: 5, "\(server.baseURL)/v1/sse?topics=s&client=carol"))
        first.close()
    }

    @Test("TokenBucket: refills at its rate, holds at most its burst, and says when enough will be there")
    func tokenBucket() {
        var bucket = TokenBucket(rate: 2, burst: 4, now: 0)
        for _ in 0..<4 { #expect(bucket.take(1, now: 0) == .allowed) }
        #expect(bucket.take(1, now: 0) == .refused(retryAfter: 0.5))
        #expect(bucket.take(1, now: 0.5) == .allowed)
        #expect(bucket.take(3, now: 100) == .allowed)  // refilled, but to 4 at most
        #expect(bucket.take(2, now: 100) == .refused(retryAfter: 0.5))
        #expect(bucket.take(10, now: 102) == .allowed)  // a cost over the burst costs the burst
        #expect(!bucket.isFull(now: 102))
        #expect(bucket.isFull(now: 104))
    }
}

extension ClientLimitTests {
    @Test("a client's place is given back when its WebSocket upgrade or SSE request is dropped before the stream starts")
    func droppedBeforeStart() async throws {
        let server = try await AuthenticationTests.start { $0.server.clientLimits = .init(connectionsPerClient: 1) }
        defer { Task { await server.stop() } }
        let authenticator = Authenticator(secret: AuthenticationTests.secret)
        for round in 0..<5 {
            // A token the server has not seen: its check takes a hop, and the client is gone by then.
            let token = try await authenticator.sign(
                TokenClaims(subject: "erin", expiresAt: Date().addingTimeInterval(Double(600 + round)), subscribe: ["*"])
            )
            let raw = try await RawWebSocket.open(port: server.port)
            raw.sendRaw(Array("GET /v1/ws?topics=d&access_token=\(token) HTTP/1.1\r\nHost: 127.0.0.1\r\n\(RawWebSocket.upgrade.joined(separator: "\r\n"))\r\n\r\n".utf8))
            raw.close()
            let sse = try await RawWebSocket.open(port: server.port)
            sse.sendRaw(Array("GET /v1/sse?topics=d&access_token=\(token) HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n".utf8))
            sse.close()
        }
        // Each dropped request's place came back: erin's one stream is admitted.
        let token = try await authenticator.sign(TokenClaims(subject: "erin", expiresAt: Date().addingTimeInterval(600), subscribe: ["*"]))
        #expect(try await Self.admittedWithin(seconds: 5, "\(server.baseURL)/v1/sse?topics=d&access_token=\(token)"))
    }

    /// Whether an SSE stream at `url` is admitted (200) within `seconds`, trying every 100 ms:
    /// a place is given back once the server has seen the stream that held it go.
    static func admittedWithin(seconds: Int, _ url: String) async throws -> Bool {
        for _ in 0..<(seconds * 10) {
            let stream = try await SSEClient.open(url)
            stream.close()
            if stream.status == 200 { return true }
            try await Task.sleep(for: .milliseconds(100))
        }
        return false
    }
}
