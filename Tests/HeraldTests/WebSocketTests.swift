import Foundation
import HeraldPostgres
import HeraldServer
import Testing

@Suite("WebSocket")
struct WebSocketTests {
    static func url(_ server: TestServer, _ query: String = "") -> String {
        "ws://127.0.0.1:\(server.port)/v1/ws\(query)"
    }

    @Test("query parameters subscribe at once; notifications carry the cursor after them")
    func subscribeFromQuery() async throws {
        let server = try await TestServer.start()
        defer { Task { await server.stop() } }
        _ = try await SSETests.publish(server, "q", "1")
        let socket = TestWebSocket.connect(Self.url(server, "?topics=q,r&after=q:0"))
        defer { socket.close() }
        let subscribed = try #require(await socket.next(type: "subscribed"))
        #expect(subscribed["topics"] as? [String] == ["q", "r"])
        #expect(subscribed["cursor"] as? String == "q:0,r:0")
        let first = try #require(await socket.next(type: "notification"))
        #expect((first["notification"] as? [String: Any])?["seq"] as? Int == 1)
        #expect(first["cursor"] as? String == "q:1,r:0")
        _ = try await SSETests.publish(server, "r", #"{"x":1}"#)
        let second = try #require(await socket.next(type: "notification"))
        let notification = try #require(second["notification"] as? [String: Any])
        #expect(notification["topic"] as? String == "r")
        #expect((notification["data"] as? [String: Any])?["x"] as? Int == 1)
        #expect(second["cursor"] as? String == "q:1,r:1")
    }

    @Test("subscribe and unsubscribe messages, ping and pong")
    func messages() async throws {
        let server = try await TestServer.start()
        defer { Task { await server.stop() } }
        let socket = TestWebSocket.connect(Self.url(server))
        defer { socket.close() }
        socket.send(#"{"type":"ping"}"#)
        #expect(await socket.next(type: "pong") != nil)
        socket.send(#"{"type":"subscribe","topics":["m1","m2"]}"#)
        #expect((await socket.next(type: "subscribed"))?["cursor"] as? String == "m1:0,m2:0")
        _ = try await SSETests.publish(server, "m1", "1")
        #expect(((await socket.next(type: "notification"))?["notification"] as? [String: Any])?["topic"] as? String == "m1")
        socket.send(#"{"type":"unsubscribe","topics":["m1"]}"#)
        socket.send(#"{"type":"ping"}"#)
        _ = await socket.next(type: "pong")
        _ = try await SSETests.publish(server, "m1", "2")
        _ = try await SSETests.publish(server, "m2", "3")
        let next = try #require(await socket.next(type: "notification"))
        #expect((next["notification"] as? [String: Any])?["topic"] as? String == "m2")
        #expect(next["cursor"] as? String == "m2:1")
    }

    @Test("a malformed or unknown frame gets an error and the connection stays open")
    func malformed() async throws {
        let server = try await TestServer.start()
        defer { Task { await server.stop() } }
        let socket = TestWebSocket.connect(Self.url(server))
        defer { socket.close() }
        let cases: [(String, String)] = [
            ("not json", "invalid_json"),
            (#"{"type":"dance"}"#, "invalid_body"),
            (#"{"topics":["a"]}"#, "invalid_body"),
            (#"{"type":"subscribe","topics":["bad topic"]}"#, "invalid_topic"),
            (#"{"type":"subscribe","topics":"a"}"#, "invalid_topic"),
            (#"{"type":"subscribe","topics":["a"],"after":"a:x"}"#, "invalid_cursor"),
            (#"{"type":"ack","cursor":"a:1"}"#, "invalid_client"),
            (#"{"type":"publish","ref":"p1","topic":"a","event":"bad event","data":1}"#, "invalid_event"),
            (#"{"type":"publish","ref":"p2","topic":"a"}"#, "missing_data"),
        ]
        for (frame, code) in cases {
            socket.send(frame)
            let error = try #require(await socket.next(type: "error"), "no error for \(frame)")
            #expect(error["code"] as? String == code, "\(frame)")
            #expect((error["message"] as? String)?.isEmpty == false)
            if frame.contains(#""ref":"p"#) { #expect(error["ref"] as? String != nil) }
        }
        socket.send(#"{"type":"ping"}"#)
        #expect(await socket.next(type: "pong") != nil)
    }

    @Test("publish over the socket: same checks and durability as REST, answered with its ref")
    func publish() async throws {
        let server = try await TestServer.start()
        defer { Task { await server.stop() } }
        let socket = TestWebSocket.connect(Self.url(server, "?topics=wp&after=wp:0"))
        defer { socket.close() }
        _ = await socket.next(type: "subscribed")
        socket.send(#"{"type":"publish","ref":"r1","topic":"wp","event":"chat.message","data":{"text":"hi"},"idempotency_key":"once"}"#)
        let published = try #require(await socket.next(type: "published"))
        #expect(published["ref"] as? String == "r1")
        let notification = try #require(published["notification"] as? [String: Any])
        #expect(notification["seq"] as? Int == 1)
        #expect(notification["event"] as? String == "chat.message")
        let fetched = try await TestHTTP.get("\(server.baseURL)/v1/topics/wp/notifications/1")
        #expect(fetched.json["id"] as? String == notification["id"] as? String)
        socket.send(#"{"type":"publish","ref":"r2","topic":"wp","data":{"text":"again"},"idempotency_key":"once"}"#)
        let repeated = try #require(await socket.next(type: "published"))
        #expect((repeated["notification"] as? [String: Any])?["id"] as? String == notification["id"] as? String)
        #expect(try await TestDatabase(url: server.databaseURL).seqs("wp") == [1])
    }

    @Test("ack stores the client's cursor; ack=auto stores every notification sent")
    func acks() async throws {
        let server = try await TestServer.start()
        defer { Task { await server.stop() } }
        for index in 1...7 { _ = try await SSETests.publish(server, "ka", "\(index)") }
        let socket = TestWebSocket.connect(Self.url(server, "?topics=ka&after=ka:0&client=carol"))
        defer { socket.close() }
        _ = await socket.next(type: "subscribed")
        socket.send(#"{"type":"ack","cursor":"ka:7"}"#)
        socket.send(#"{"type":"ping"}"#)
        _ = await socket.next(type: "pong")
        let stored = try await TestHTTP.get("\(server.baseURL)/v1/clients/carol/cursors")
        #expect(stored.json["client"] as? String == "carol")
        #expect((stored.json["cursors"] as? [String: Any])?["ka"] as? Int == 7)

        let auto = TestWebSocket.connect(Self.url(server, "?topics=kb&client=dave&ack=auto"))
        defer { auto.close() }
        _ = await auto.next(type: "subscribed")
        _ = try await SSETests.publish(server, "kb", "1")
        _ = try await SSETests.publish(server, "kb", "2")
        _ = await auto.next(type: "notification")
        _ = await auto.next(type: "notification")
        // Written by the periodic flush, about a second later.
        let database = TestDatabase(url: server.databaseURL)
        #expect(try await database.cursor(client: "dave", topic: "kb", reaching: 2) == 2)
    }

    @Test("GET /v1/ws without an upgrade is 426; bad parameters are 400")
    func plainGet() async throws {
        let server = try await TestServer.start()
        defer { Task { await server.stop() } }
        let plain = try await TestHTTP.get("\(server.baseURL)/v1/ws?topics=a")
        #expect(plain.status == 426)
        #expect(plain.errorCode == "upgrade_required")
        let bad = try await TestHTTP.get("\(server.baseURL)/v1/ws?topics=bad%20topic")
        #expect(bad.status == 400)
        #expect(bad.errorCode == "invalid_topic")
    }

    @Test("the server pings every heartbeat and closes a connection whose client stays silent through two pings")
    func pingsAndDeadClients() async throws {
        // A 2 s heartbeat: a loaded test machine can stall a client thread for a second or
        // more (CI once closed the answering client at 1 s), which must not count as dead.
        let server = try await TestServer.start { $0.server.heartbeat = .seconds(2) }
        defer { Task { await server.stop() } }
        // A client that never answers (nothing is read from it until the end).
        let dead = try await RawWebSocket.connect(port: server.port, path: "/v1/ws")
        defer { dead.close() }
        // A client that answers: still served after several heartbeats.
        let alive = try await RawWebSocket.connect(port: server.port, path: "/v1/ws")
        defer { alive.close() }
        #expect(alive.status == 101)
        var pings = 0
        let start = ContinuousClock.now
        while ContinuousClock.now - start < .milliseconds(7000) {
            guard let frame = await alive.next(timeout: 5) else { break }
            #expect(frame.opcode != 0x8, "the answering client was closed: \(frame.payload)")
            if frame.opcode == 0x9 {
                pings += 1
                alive.send(opcode: 0xA, frame.payload)
            }
        }
        #expect(pings >= 3)
        alive.send(opcode: 0x1, Array(#"{"type":"ping"}"#.utf8))
        #expect(await alive.nextText() == #"{"type":"pong"}"#)

        // Meanwhile the silent one was pinged and closed once two pings in a row went unanswered.
        let frames = try #require(await dead.framesUntilClosed(timeout: 8), "the silent connection stayed open")
        #expect(frames.first?.opcode == 0x9)
    }

    @Test("a message over --max-frame closes the connection with 1009, whole or in fragments")
    func maximumFrame() async throws {
        let server = try await TestServer.start { $0.server.maximumFrame = 1024 }
        defer { Task { await server.stop() } }
        let fitting = #"{"type":"ping","ref":""#.utf8 + Array(repeating: UInt8(ascii: "x"), count: 900) + #""}"#.utf8
        let whole = try await RawWebSocket.connect(port: server.port, path: "/v1/ws")
        defer { whole.close() }
        whole.send(opcode: 0x1, Array(fitting))
        #expect(await whole.nextText() == #"{"type":"pong"}"#)
        whole.send(opcode: 0x1, Array(repeating: UInt8(ascii: " "), count: 2000))
        let closed = try #require(await whole.framesUntilClosed(timeout: 5), "the connection stayed open")
        #expect(closed.filter { $0.opcode == 0x8 }.map(\.closeCode) == [1009])

        let fragmented = try await RawWebSocket.connect(port: server.port, path: "/v1/ws")
        defer { fragmented.close() }
        fragmented.send(opcode: 0x1, Array(repeating: UInt8(ascii: " "), count: 800), fin: false)
        fragmented.send(opcode: 0x0, Array(repeating: UInt8(ascii: " "), count: 800), fin: true)
        let closedToo = try #require(await fragmented.framesUntilClosed(timeout: 5), "the connection stayed open")
        #expect(closedToo.filter { $0.opcode == 0x8 }.map(\.closeCode) == [1009])
    }

    @Test("an upgrade with bad parameters is answered 400 with the error, not upgraded")
    func badUpgrade() async throws {
        let server = try await TestServer.start()
        defer { Task { await server.stop() } }
        let socket = try await RawWebSocket.connect(port: server.port, path: "/v1/ws?topics=bad%20topic")
        defer { socket.close() }
        #expect(socket.status == 400)
        #expect(socket.response.lowercased().contains("content-type: application/json"))
    }
}
