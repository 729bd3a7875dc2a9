import Foundation
import HeraldCore
import HeraldPostgres
import HeraldServer
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
