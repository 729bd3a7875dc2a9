import Foundation
import HeraldCore
import HeraldPostgres
import HeraldServer
import NIOHTTP1
import Testing

@Suite("Server-side cursors")
struct CursorTests {
    @Test("start precedence: explicit cursor, then the stored cursor, then now — for poll, SSE and WebSocket")
    func precedence() async throws {
        let server = try await TestServer.start()
        defer { Task { await server.stop() } }
        for index in 1...6 { _ = try await SSETests.publish(server, "p", "\(index)") }
        // Long-poll's after acknowledges: erin has received p up to 3.
        let ack = try await TestHTTP.get("\(server.baseURL)/v1/poll?topics=p&after=p:3&client=erin&limit=1")
        #expect((ack.json["notifications"] as? [[String: Any]])?.first?["seq"] as? Int == 4)
        await server.instance.cursors.flush()
        #expect((try await TestHTTP.get("\(server.baseURL)/v1/clients/erin/cursors").json["cursors"] as? [String: Any])?["p"] as? Int == 3)

        // Stored cursor (no explicit after): poll, SSE and WebSocket start after 3.
        let polled = try await TestHTTP.get("\(server.baseURL)/v1/poll?topics=p&client=erin")
        #expect((polled.json["notifications"] as? [[String: Any]])?.map { $0["seq"] as? Int } == [4, 5, 6])
        let stream = try await SSEClient.open("\(server.baseURL)/v1/sse?topics=p&client=erin")
        #expect(await stream.next()?.seq == 4)
        stream.close()
        // (The stream wrote 4, 5 and 6 and recorded them as erin's; a second client for WebSocket.)
        _ = try await TestHTTP.get("\(server.baseURL)/v1/poll?topics=p&after=p:3&client=hank&limit=1")
        let socket = TestWebSocket.connect(WebSocketTests.url(server, "?topics=p&client=hank"))
        #expect((await socket.next(type: "subscribed"))?["cursor"] as? String == "p:3")
        #expect(((await socket.next(type: "notification"))?["notification"] as? [String: Any])?["seq"] as? Int == 4)
        socket.close()

        // Explicit beats stored.
        let explicit = try await TestHTTP.get("\(server.baseURL)/v1/poll?topics=p&client=erin&after=p:5")
        #expect((explicit.json["notifications"] as? [[String: Any]])?.map { $0["seq"] as? Int } == [6])
        // No stored cursor and no explicit one: now.
        let fresh = try await TestHTTP.get("\(server.baseURL)/v1/poll?topics=p&client=frank")
        #expect((fresh.json["notifications"] as? [Any])?.isEmpty == true)
        #expect(fresh.json["cursor"] as? String == "p:6")
    }

    @Test("cursors are written at most about once a second and never moved backwards by a late write")
    func coalescedAndMonotonic() async throws {
        let server = try await TestServer.start()
        defer { Task { await server.stop() } }
        for index in 1...50 { _ = try await SSETests.publish(server, "w", "\(index)") }
        let stream = try await SSEClient.open("\(server.baseURL)/v1/sse?topics=w&after=w:0&client=gina")
        defer { stream.close() }
        for _ in 1...50 { _ = await stream.next() }
        let database = TestDatabase(url: server.databaseURL)
        // Recorded about a second after being written to the stream...
        #expect(try await database.cursor(client: "gina", topic: "w", reaching: 50) == 50)
        // ...by a handful of writes, not one per event: each write is a new row version.
        let versions = try await database.query("SELECT n_tup_ins + n_tup_upd FROM pg_stat_user_tables WHERE relname = 'cursors'")
        #expect(try versions.first.map { try $0.decode(Int.self, at: 0) } ?? 0 <= 5)
        // A late, older acknowledgement does not move it back.
        _ = try await TestHTTP.get("\(server.baseURL)/v1/poll?topics=w&after=w:10&client=gina")
        await server.instance.cursors.flush()
        let after = try await TestHTTP.get("\(server.baseURL)/v1/clients/gina/cursors")
        #expect((after.json["cursors"] as? [String: Any])?["w"] as? Int == 50)
    }

    @Test("GET /v1/clients/{client}/cursors checks the client id and knows unknown clients")
    func cursorsEndpoint() async throws {
        let server = try await TestServer.start()
        defer { Task { await server.stop() } }
        let unknown = try await TestHTTP.get("\(server.baseURL)/v1/clients/nobody/cursors")
        #expect(unknown.status == 200)
        #expect(unknown.json["client"] as? String == "nobody")
        #expect((unknown.json["cursors"] as? [String: Any])?.isEmpty == true)
        let bad = try await TestHTTP.get("\(server.baseURL)/v1/clients/bad%20id/cursors")
        #expect(bad.status == 400)
        #expect(bad.errorCode == "invalid_client")
    }
}

@Suite("Cursors mean what they say")
struct CursorPolicyTests {
    @Test("a client that received nothing and left gets, when it comes back, what was published meanwhile: poll, SSE and WebSocket")
    func cursorExistsFromFirstSubscribe() async throws {
        let server = try await TestServer.start()
        defer { Task { await server.stop() } }
        let other = try await TestServer.start(databaseURL: server.databaseURL)
        defer { Task { await other.stop() } }
        // Each topic has a notification before the client's first visit: "now" is not 0.
        for topic in ["np", "ns", "nw"] { _ = try await SSETests.publish(server, topic, #""before""#) }

        let first = try await TestHTTP.get("\(server.baseURL)/v1/poll?topics=np&client=bob")
        #expect((first.json["notifications"] as? [Any])?.isEmpty == true)
        _ = try await SSETests.publish(server, "np", #""missed?""#)
        let again = try await TestHTTP.get("\(server.baseURL)/v1/poll?topics=np&client=bob")
        #expect((again.json["notifications"] as? [[String: Any]])?.map { $0["data"] as? String } == ["missed?"])

        let stream = try await SSEClient.open("\(server.baseURL)/v1/sse?topics=ns&client=bob")
        #expect(stream.status == 200)
        let open = server.instance.connectionCount
        stream.close()
        // The client has left once the server has seen its connection go: a publish before
        // that is written to the stream, rightly moving the cursor past it (seen on a loaded
        // machine).
        let deadline = ContinuousClock.now + .seconds(20)
        while server.instance.connectionCount >= open, ContinuousClock.now < deadline { try await Task.sleep(for: .milliseconds(20)) }
        _ = try await SSETests.publish(server, "ns", #""missed?""#)
        // Back through another instance: the cursor is in the database, not in memory.
        let back = try await SSEClient.open("\(other.baseURL)/v1/sse?topics=ns&client=bob")
        defer { back.close() }
        let event = try #require(await back.next())
        #expect(event.seq == 2)
        #expect(event.json["data"] as? String == "missed?")

        let socket = TestWebSocket.connect(WebSocketTests.url(server, "?topics=nw&client=bob"))
        #expect((await socket.next(type: "subscribed"))?["cursor"] as? String == "nw:1")
        socket.close()
        _ = try await SSETests.publish(server, "nw", #""missed?""#)
        let returning = TestWebSocket.connect(WebSocketTests.url(server, "?topics=nw&client=bob"))
        defer { returning.close() }
        let notification = try #require(await returning.next(type: "notification"))
        #expect((notification["notification"] as? [String: Any])?["seq"] as? Int == 2)
    }

    @Test("an explicit start past a topic's last seq is refused with invalid_cursor and never stored: poll, SSE (after, Last-Event-ID), WebSocket (subscribe, ack)")
    func startPastTheHeadIsRefused() async throws {
        let server = try await TestServer.start()
        defer { Task { await server.stop() } }
        _ = try await SSETests.publish(server, "h", "1")
        let poll = try await TestHTTP.get("\(server.baseURL)/v1/poll?topics=h&after=h:999&client=carl")
        #expect(poll.status == 400)
        #expect(poll.errorCode == "invalid_cursor")
        let sse = try await TestHTTP.get("\(server.baseURL)/v1/sse?topics=h&after=h:2&client=carl")
        #expect(sse.status == 400)
        #expect(sse.errorCode == "invalid_cursor")
        let resumed = try await TestHTTP.request(.GET, "\(server.baseURL)/v1/sse?topics=h&client=carl", headers: [("Last-Event-ID", "h:999")])
        #expect(resumed.status == 400)
        #expect(resumed.errorCode == "invalid_cursor")
        // A topic nobody published to is at 0: 1 is already past it.
        let empty = try await TestHTTP.get("\(server.baseURL)/v1/poll?topics=never&after=never:1&client=carl")
        #expect(empty.errorCode == "invalid_cursor")
        await server.instance.cursors.flush()
        #expect((try await TestHTTP.get("\(server.baseURL)/v1/clients/carl/cursors").json["cursors"] as? [String: Any])?.isEmpty == true)

        let socket = TestWebSocket.connect(WebSocketTests.url(server, "?client=carl"))
        defer { socket.close() }
        socket.send(#"{"type":"subscribe","topics":["h"],"after":"h:999"}"#)
        #expect((await socket.next(type: "error"))?["code"] as? String == "invalid_cursor")
        socket.send(#"{"type":"subscribe","topics":["h"],"after":"h:0"}"#)
        #expect((await socket.next(type: "subscribed"))?["cursor"] as? String == "h:0")
        socket.send(#"{"type":"ack","cursor":"h:999"}"#)
        #expect((await socket.next(type: "error"))?["code"] as? String == "invalid_cursor")
        socket.send(#"{"type":"ack","cursor":"h:1"}"#)
        socket.send(#"{"type":"ping"}"#)
        _ = await socket.next(type: "pong")
        await server.instance.cursors.flush()
        let stored = try await TestHTTP.get("\(server.baseURL)/v1/clients/carl/cursors")
        #expect((stored.json["cursors"] as? [String: Any])?["h"] as? Int == 1)
        // Nothing was skipped: a poll from the stored cursor gets what comes next.
        _ = try await SSETests.publish(server, "h", "2")
        let next = try await TestHTTP.get("\(server.baseURL)/v1/poll?topics=h&client=carl")
        #expect((next.json["notifications"] as? [[String: Any]])?.map { $0["seq"] as? Int } == [2])
    }

    @Test("a stored cursor past the topic's last seq (a database restored from an older backup) counts as the last seq: nothing published next is skipped")
    func storedCursorPastTheHead() async throws {
        let server = try await TestServer.start()
        defer { Task { await server.stop() } }
        _ = try await SSETests.publish(server, "restored", "1")
        _ = try await TestHTTP.get("\(server.baseURL)/v1/poll?topics=restored&client=dana")
        _ = try await TestDatabase(url: server.databaseURL).query("UPDATE herald.cursors SET seq = 999 WHERE client = 'dana'")
        let caughtUp = try await TestHTTP.get("\(server.baseURL)/v1/poll?topics=restored&client=dana")
        #expect(caughtUp.json["cursor"] as? String == "restored:1")
        _ = try await SSETests.publish(server, "restored", "2")
        let polled = try await TestHTTP.get("\(server.baseURL)/v1/poll?topics=restored&client=dana")
        #expect((polled.json["notifications"] as? [[String: Any]])?.map { $0["seq"] as? Int } == [2])
    }

    @Test("a stored cursor moves with completed writes only: a client that stopped reading and left resumes from what its socket took, losing nothing")
    func cursorFollowsCompletedWrites() async throws {
        let server = try await TestServer.start { $0.server.maximumPayload = 2 << 20 }
        defer { Task { await server.stop() } }
        // 24 notifications of 1 MiB: far more than the socket buffers between server and client hold.
        let big = "\"" + String(repeating: "x", count: 1 << 20) + "\""
        for _ in 1...24 { _ = try await SSETests.publish(server, "big", big) }
        let reader = try await RawWebSocket.connect(
            port: server.port, path: "/v1/sse?topics=big&after=big:0&client=slow", headers: ["Accept: text/event-stream"], receiveBuffer: 4096
        )
        #expect(reader.status == 200)
        // The reader reads nothing; the server writes what the sockets take, then waits.
        try await Task.sleep(for: .seconds(3))
        await server.instance.cursors.flush()
        let stored = try #require(
            (try await TestHTTP.get("\(server.baseURL)/v1/clients/slow/cursors").json["cursors"] as? [String: Any])?["big"] as? Int
        )
        #expect(stored < 24, "the cursor moved past what the client's socket could have taken")
        reader.close()
        // Back: it resumes right after the stored cursor.
        let back = try await SSEClient.open("\(server.baseURL)/v1/sse?topics=big&client=slow")
        defer { back.close() }
        #expect(await back.next(timeout: .seconds(20))?.seq == stored + 1)
    }
}
