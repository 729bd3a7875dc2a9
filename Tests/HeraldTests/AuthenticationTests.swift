import Foundation
import HeraldCore
import HeraldServer
import NIOHTTP1
import Testing

/// Tokens against every endpoint, the fast paths and WebSocket messages included.
@Suite("Authentication and per-topic permissions")
struct AuthenticationTests {
    static let secret = "test-secret-0123456789abcdef0123456789"

    /// The kinds of token a request may carry.
    enum Credential: String, CaseIterable, CustomStringConvertible {
        case none, expired, wrongSignature, withoutPattern, otherClient, admin
        var description: String { self.rawValue }
    }

    /// The tokens of one server: alice may publish to `orders.*` and subscribe to `orders.*`;
    /// "without pattern" is alice allowed only `billing.*`; "other client" is mallory,
    /// allowed every topic, naming alice.
    struct Tokens {
        let alice: String
        let byCredential: [Credential: String]

        static func make() async throws -> Tokens {
            let authenticator = Authenticator(secret: AuthenticationTests.secret)
            let hour = Date().addingTimeInterval(3600)
            func sign(_ claims: TokenClaims, with other: Authenticator? = nil) async throws -> String {
                try await (other ?? authenticator).sign(claims)
            }
            let alice = try await sign(TokenClaims(subject: "alice", expiresAt: hour, publish: ["orders.*"], subscribe: ["orders.*"]))
            return Tokens(
                alice: alice,
                byCredential: [
                    .expired: try await sign(
                        TokenClaims(subject: "alice", expiresAt: Date().addingTimeInterval(-60), publish: ["*"], subscribe: ["*"])
                    ),
                    .wrongSignature: try await sign(
                        TokenClaims(subject: "alice", expiresAt: hour, publish: ["*"], subscribe: ["*"]),
                        with: Authenticator(secret: "another-secret-0123456789abcdef0123")
                    ),
                    .withoutPattern: try await sign(
                        TokenClaims(subject: "alice", expiresAt: hour, publish: ["billing.*"], subscribe: ["billing.*"])
                    ),
                    .otherClient: try await sign(TokenClaims(subject: "mallory", expiresAt: hour, publish: ["*"], subscribe: ["*"])),
                    .admin: try await sign(TokenClaims(subject: "root", expiresAt: hour, admin: true)),
                ]
            )
        }

        func headers(_ credential: Credential) -> [(String, String)] {
            self.byCredential[credential].map { [("Authorization", "Bearer \($0)")] } ?? []
        }
    }

    static func start(_ configure: (inout HeraldInstance.Configuration) -> Void = { _ in }) async throws -> TestServer {
        try await TestServer.start { configuration in
            configuration.server.authSecret = Self.secret
            configure(&configuration)
        }
    }

    /// The status the contract gives each credential, for a request that names client
    /// alice where it can, on topics alice may use.
    static func expected(_ credential: Credential, success: Int, namesClient: Bool = true) -> Int {
        switch credential {
        case .none, .expired, .wrongSignature: 401
        case .withoutPattern: 403
        case .otherClient: namesClient ? 403 : success
        case .admin: success
        }
    }

    @Test("every HTTP endpoint answers each credential with the contract's status", arguments: Credential.allCases)
    func httpMatrix(_ credential: Credential) async throws {
        let server = try await Self.start()
        defer { Task { await server.stop() } }
        let tokens = try await Tokens.make()
        let alice = [("Authorization", "Bearer \(tokens.alice)")]
        // Something to read: published by alice herself.
        #expect(try await TestHTTP.request(.POST, "\(server.baseURL)/v1/topics/orders.a/notifications", body: Array("x".utf8), headers: alice).status == 201)
        let headers = tokens.headers(credential)
        let base = server.baseURL
        var cells: [(String, Int, Int)] = []
        func check(_ name: String, _ answer: TestHTTP.Answer, _ expected: Int) {
            cells.append((name, answer.status, expected))
            if expected == 401 { #expect(answer.errorCode == "unauthorized", "\(name): \(answer.text)") }
            if expected == 403 { #expect(answer.errorCode == "forbidden", "\(name): \(answer.text)") }
        }
        check(
            "single publish (fast path)",
            try await TestHTTP.request(.POST, "\(base)/v1/topics/orders.a/notifications", body: Array("y".utf8), headers: headers),
            Self.expected(credential, success: 201, namesClient: false)
        )
        check(
            "batch publish",
            try await TestHTTP.postJSON(
                "\(base)/v1/notifications", #"{"notifications":[{"topic":"orders.a","data":1},{"topic":"orders.b","data":2}]}"#,
                headers: headers
            ),
            Self.expected(credential, success: 201, namesClient: false)
        )
        check(
            "get one notification",
            try await TestHTTP.request(.GET, "\(base)/v1/topics/orders.a/notifications/1", headers: headers),
            Self.expected(credential, success: 200, namesClient: false)
        )
        check(
            "poll",
            try await TestHTTP.request(.GET, "\(base)/v1/poll?topics=orders.a,orders.b&client=alice", headers: headers),
            Self.expected(credential, success: 200)
        )
        check(
            "long-poll",
            try await TestHTTP.request(.GET, "\(base)/v1/poll?topics=orders.a&after=orders.a:0&wait=1&client=alice", headers: headers),
            Self.expected(credential, success: 200)
        )
        check(
            "cursors of alice",
            try await TestHTTP.request(.GET, "\(base)/v1/clients/alice/cursors", headers: headers),
            credential == .withoutPattern ? 200 : Self.expected(credential, success: 200)
        )
        check(
            "metrics",
            try await TestHTTP.request(.GET, "\(base)/metrics", headers: headers),
            credential == .admin ? 200 : (Self.expected(credential, success: 200) == 401 ? 401 : 403)
        )
        check(
            "WebSocket without upgrade",
            try await TestHTTP.request(.GET, "\(base)/v1/ws?topics=orders.a", headers: headers),
            // The upgrade's checks, then that an upgrade is needed.
            Self.expected(credential, success: 426, namesClient: false)
        )
        check("healthz", try await TestHTTP.request(.GET, "\(base)/healthz", headers: headers), 200)
        check("readyz", try await TestHTTP.request(.GET, "\(base)/readyz", headers: headers), 200)
        for (name, status, expected) in cells {
            #expect(status == expected, "\(credential): \(name) answered \(status), the contract says \(expected)")
        }
    }

    @Test("SSE (fast path) answers each credential, by header and by access_token", arguments: Credential.allCases)
    func sseMatrix(_ credential: Credential) async throws {
        let server = try await Self.start()
        defer { Task { await server.stop() } }
        let tokens = try await Tokens.make()
        let expected = Self.expected(credential, success: 200)
        let url = "\(server.baseURL)/v1/sse?topics=orders.a&client=alice"
        let byHeader = try await SSEClient.open(url, headers: tokens.headers(credential))
        #expect(byHeader.status == expected, "\(credential), header")
        byHeader.close()
        let query = tokens.byCredential[credential].map { "&access_token=\($0)" } ?? ""
        let byQuery = try await SSEClient.open(url + query)
        #expect(byQuery.status == expected, "\(credential), access_token")
        byQuery.close()
    }

    @Test("a WebSocket upgrade answers each credential; refused ones are not upgraded", arguments: Credential.allCases)
    func webSocketUpgradeMatrix(_ credential: Credential) async throws {
        let server = try await Self.start()
        defer { Task { await server.stop() } }
        let tokens = try await Tokens.make()
        let query = tokens.byCredential[credential].map { "&access_token=\($0)" } ?? ""
        let socket = try await RawWebSocket.connect(port: server.port, path: "/v1/ws?topics=orders.a&client=alice" + query)
        defer { socket.close() }
        let expected = Self.expected(credential, success: 101)
        #expect(socket.status == expected, "\(credential): \(socket.response)")
        if let token = tokens.byCredential[credential] {
            let byHeader = try await RawWebSocket.connect(
                port: server.port, path: "/v1/ws?topics=orders.a&client=alice",
                headers: RawWebSocket.upgrade + ["Authorization: Bearer \(token)"]
            )
            defer { byHeader.close() }
            #expect(byHeader.status == expected, "\(credential), header: \(byHeader.response)")
        }
    }

    @Test("on WebSocket, a subscribe or publish the token does not allow gets a forbidden error frame and the connection stays")
    func webSocketMessages() async throws {
        let server = try await Self.start()
        defer { Task { await server.stop() } }
        let tokens = try await Tokens.make()
        let socket = TestWebSocket.connect("ws://127.0.0.1:\(server.port)/v1/ws?access_token=\(tokens.alice)")
        defer { socket.close() }
        socket.send(#"{"type":"subscribe","topics":["orders.a","billing"]}"#)
        let refused = try #require(await socket.next(type: "error"))
        #expect(refused["code"] as? String == "forbidden")
        socket.send(#"{"type":"publish","ref":"p1","topic":"billing","data":1}"#)
        let refusedPublish = try #require(await socket.next(type: "error"))
        #expect(refusedPublish["code"] as? String == "forbidden")
        #expect(refusedPublish["ref"] as? String == "p1")
        socket.send(#"{"type":"ack","cursor":"billing:0"}"#)
        #expect(try #require(await socket.next(type: "error"))["code"] as? String == "forbidden")
        // Still open, and what is allowed works.
        socket.send(#"{"type":"subscribe","topics":["orders.a"]}"#)
        #expect(await socket.next(type: "subscribed") != nil)
        socket.send(#"{"type":"publish","ref":"p2","topic":"orders.a","data":2}"#)
        // The answer and the notification, in either order (the notification may come first).
        var answers: [String: [String: Any]] = [:]
        while answers.count < 2, let message = await socket.next() {
            if let type = message["type"] as? String, ["published", "notification"].contains(type) { answers[type] = message }
        }
        #expect(answers["published"]?["ref"] as? String == "p2")
        #expect(answers["notification"]?["cursor"] as? String == "orders.a:1")
        // Nothing was stored for the refused publish.
        let admin = try #require(tokens.byCredential[.admin])
        let poll = try await TestHTTP.request(
            .GET, "\(server.baseURL)/v1/poll?topics=billing&after=billing:0", headers: [("Authorization", "Bearer \(admin)")]
        )
        #expect((poll.json["notifications"] as? [Any])?.count == 0)
    }

    @Test("every topic of a multi-topic request is checked")
    func everyTopic() async throws {
        let server = try await Self.start()
        defer { Task { await server.stop() } }
        let tokens = try await Tokens.make()
        let alice = [("Authorization", "Bearer \(tokens.alice)")]
        let poll = try await TestHTTP.request(.GET, "\(server.baseURL)/v1/poll?topics=orders.a,billing", headers: alice)
        #expect(poll.status == 403)
        #expect(poll.text.contains("billing"))
        let batch = try await TestHTTP.postJSON(
            "\(server.baseURL)/v1/notifications", #"{"notifications":[{"topic":"orders.a","data":1},{"topic":"billing","data":2}]}"#,
            headers: alice
        )
        #expect(batch.status == 403)
        let sse = try await SSEClient.open("\(server.baseURL)/v1/sse?topics=orders.a,billing", headers: alice)
        #expect(sse.status == 403)
        sse.close()
        // The refused batch stored nothing, not even its allowed item.
        let after = try await TestHTTP.request(.GET, "\(server.baseURL)/v1/poll?topics=orders.a&after=orders.a:0", headers: alice)
        #expect((after.json["notifications"] as? [Any])?.count == 0)
    }

    @Test("an open stream ends when its token expires: SSE ends its stream, WebSocket closes with 1008")
    func expiry() async throws {
        let server = try await Self.start()
        defer { Task { await server.stop() } }
        let short = try await Authenticator(secret: Self.secret).sign(
            TokenClaims(subject: "alice", expiresAt: Date().addingTimeInterval(6), subscribe: ["*"])
        )
        let socket = try await RawWebSocket.connect(port: server.port, path: "/v1/ws?topics=a&access_token=\(short)")
        defer { socket.close() }
        #expect(socket.status == 101)
        let sse = try await RawWebSocket.connect(
            port: server.port, path: "/v1/sse?topics=a&access_token=\(short)", headers: ["Accept: text/event-stream"]
        )
        defer { sse.close() }
        #expect(sse.status == 200)
        let frames = try #require(await socket.framesUntilClosed(timeout: 20))
        #expect(frames.last?.closeCode == 1008)
        #expect(await sse.closedByServer(timeout: 20))
    }

    @Test("the client id is the token's: a request without client acts as sub, and its cursor is sub's")
    func clientIsSubject() async throws {
        let server = try await Self.start()
        defer { Task { await server.stop() } }
        let tokens = try await Tokens.make()
        let alice = [("Authorization", "Bearer \(tokens.alice)")]
        #expect(try await TestHTTP.request(.GET, "\(server.baseURL)/v1/poll?topics=orders.z", headers: alice).status == 200)
        let cursors = try await TestHTTP.request(.GET, "\(server.baseURL)/v1/clients/alice/cursors", headers: alice)
        #expect((cursors.json["cursors"] as? [String: Any])?["orders.z"] as? Int == 0)
    }

    @Test("TopicPattern: * matches any run of characters, the rest literally")
    func patterns() throws {
        let cases: [(String, String, Bool)] = [
            ("*", "anything", true), ("orders.*", "orders.eu", true), ("orders.*", "orders.", true), ("orders.*", "orders", false),
            ("orders.*", "xorders.eu", false), ("*-alerts", "eu-alerts", true), ("eu-*-alerts", "eu-west-alerts", true),
            ("eu-*-alerts", "eu-alerts", false), ("a*b*c", "aXbYbZc", true), ("a*b*c", "aXbYbZ", false), ("exact", "exact", true),
            ("exact", "exactly", false), ("**", "x", true),
        ]
        for (pattern, topic, matches) in cases {
            #expect(try #require(TopicPattern(pattern)).matches(topic) == matches, "\(pattern) ~ \(topic)")
        }
        #expect(TopicPattern("") == nil)
        #expect(TopicPattern("a b") == nil)
        #expect(TopicPattern("a/b") == nil)
    }
}
