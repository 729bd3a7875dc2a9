import Foundation
import HeraldCore
import HeraldPostgres
import HeraldServer
import NIOHTTP1
import Testing

@Suite("The admin API: topics, cursors, replays and purges")
struct AdminTests {
    static func seqs(_ answer: TestHTTP.Answer) -> [Int] {
        (answer.json["notifications"] as? [[String: Any]])?.compactMap { $0["seq"] as? Int } ?? []
    }

    static func resets(_ answer: TestHTTP.Answer) -> [[String: Any]] {
        answer.json["resets"] as? [[String: Any]] ?? []
    }

    static func put(_ server: TestServer, client: String, topic: String, seq: Int, headers: [(String, String)] = []) async throws
        -> TestHTTP.Answer
    {
        try await TestHTTP.request(
            .PUT, "\(server.baseURL)/v1/clients/\(client)/cursors/\(topic)", body: Array(#"{"seq":\#(seq)}"#.utf8), headers: headers
        )
    }

    @Test("GET /v1/topics and /v1/topics/{topic}: last seq, oldest retained, count, last publish; 404 for a topic never published to")
    func topics() async throws {
        let server = try await TestServer.start()
        defer { Task { await server.stop() } }
        for index in 1...3 { _ = try await SSETests.publish(server, "b-topic", "\(index)") }
        let last = try await SSETests.publish(server, "a-topic", "1")
        _ = try await SSETests.publish(server, "a-topic", "2", ttl: 1)
        try await Task.sleep(for: .milliseconds(1500))
        let list = try await TestHTTP.get("\(server.baseURL)/v1/topics")
        #expect(list.status == 200)
        let topics = list.json["topics"] as? [[String: Any]] ?? []
        #expect(topics.map { $0["name"] as? String } == ["a-topic", "b-topic"])
        // a-topic: seq 2 expired (its ttl), so one retained, the oldest being 1.
        #expect(topics.first?["last_seq"] as? Int == 2)
        #expect(topics.first?["oldest_seq"] as? Int == last)
        #expect(topics.first?["count"] as? Int == 1)
        #expect((topics.first?["last_published_at"] as? String)?.hasSuffix("Z") == true)
        #expect(topics.last?["count"] as? Int == 3)
        let page = try await TestHTTP.get("\(server.baseURL)/v1/topics?after=a-topic&limit=1")
        #expect((page.json["topics"] as? [[String: Any]])?.map { $0["name"] as? String } == ["b-topic"])
        #expect(try await TestHTTP.get("\(server.baseURL)/v1/topics?limit=0").errorCode == "invalid_parameter")

        let one = try await TestHTTP.get("\(server.baseURL)/v1/topics/b-topic")
        #expect(one.status == 200)
        #expect(one.json["name"] as? String == "b-topic")
        #expect(one.json["oldest_seq"] as? Int == 1)
        #expect(one.json["purged_through"] as? Int == 0)
        let missing = try await TestHTTP.get("\(server.baseURL)/v1/topics/never")
        #expect(missing.status == 404)
        #expect(missing.errorCode == "not_found")
        #expect(try await TestHTTP.get("\(server.baseURL)/v1/topics/bad%20name").errorCode == "invalid_topic")
    }

    @Test("PUT and DELETE /v1/clients/{client}/cursors/{topic}: a set may go back, past the last seq is refused and stores nothing")
    func setAndForget() async throws {
        let server = try await TestServer.start()
        defer { Task { await server.stop() } }
        for index in 1...5 { _ = try await SSETests.publish(server, "c", "\(index)") }
        _ = try await TestHTTP.get("\(server.baseURL)/v1/poll?topics=c&after=c:4&client=ivy")
        await server.instance.cursors.flush()

        let set = try await Self.put(server, client: "ivy", topic: "c", seq: 1)
        #expect(set.status == 200)
        #expect(set.json["seq"] as? Int == 1)
        #expect(set.json["version"] as? Int == 1)
        let cursors = try await TestHTTP.get("\(server.baseURL)/v1/clients/ivy/cursors")
        #expect((cursors.json["cursors"] as? [String: Any])?["c"] as? Int == 1)

        let past = try await Self.put(server, client: "ivy", topic: "c", seq: 6)
        #expect(past.status == 400)
        #expect(past.errorCode == "invalid_cursor")
        let malformed = try await TestHTTP.request(.PUT, "\(server.baseURL)/v1/clients/ivy/cursors/c", body: Array(#"{"seq":"x"}"#.utf8))
        #expect(malformed.errorCode == "invalid_body")
        let notJSON = try await TestHTTP.request(.PUT, "\(server.baseURL)/v1/clients/ivy/cursors/c", body: Array("seq=1".utf8))
        #expect(notJSON.errorCode == "invalid_json")
        #expect(try await Self.put(server, client: "bad%20id", topic: "c", seq: 1).errorCode == "invalid_client")
        let after = try await TestHTTP.get("\(server.baseURL)/v1/clients/ivy/cursors")
        #expect((after.json["cursors"] as? [String: Any])?["c"] as? Int == 1)

        let forgotten = try await TestHTTP.request(.DELETE, "\(server.baseURL)/v1/clients/ivy/cursors/c")
        #expect(forgotten.status == 204)
        let gone = try await TestHTTP.get("\(server.baseURL)/v1/clients/ivy/cursors")
        #expect((gone.json["cursors"] as? [String: Any])?.isEmpty == true)
        let again = try await TestHTTP.request(.DELETE, "\(server.baseURL)/v1/clients/ivy/cursors/c")
        #expect(again.status == 404)
        #expect(again.errorCode == "not_found")
    }

    @Test("a replay backwards reaches connected SSE and WebSocket subscribers of that client on two instances within 2 s: the replay reset, then the notifications")
    func liveReplay() async throws {
        let first = try await TestServer.start()
        defer { Task { await first.stop() } }
        let second = try await TestServer.start(databaseURL: first.databaseURL)
        defer { Task { await second.stop() } }
        for index in 1...10 { _ = try await SSETests.publish(first, "r", "\(index)") }
        var streams: [SSEClient] = []
        var sockets: [TestWebSocket] = []
        for server in [first, second] {
            let stream = try await SSEClient.open("\(server.baseURL)/v1/sse?topics=r&after=r:0&client=jo")
            for _ in 1...10 { _ = await stream.next() }
            streams.append(stream)
            let socket = TestWebSocket.connect(WebSocketTests.url(server, "?topics=r&after=r:0&client=jo"))
            _ = await socket.next(type: "subscribed")
            for _ in 1...10 { _ = await socket.next(type: "notification") }
            sockets.append(socket)
        }
        defer {
            for stream in streams { stream.close() }
            for socket in sockets { socket.close() }
        }
        let start = ContinuousClock.now
        #expect(try await Self.put(first, client: "jo", topic: "r", seq: 6).status == 200)
        for stream in streams {
            let reset = await stream.next(timeout: .seconds(2))
            #expect(reset?.event == "herald.reset")
            #expect(reset?.json["reason"] as? String == "replay")
            #expect(reset?.json["requested_after"] as? Int == 10)
            #expect(reset?.json["resumed_after"] as? Int == 6)
            #expect(reset?.id == "r:6")
            var seqs: [Int?] = []
            for _ in 7...10 { seqs.append(await stream.next(timeout: .seconds(2))?.seq) }
            #expect(seqs == [7, 8, 9, 10])
        }
        for socket in sockets {
            let reset = await socket.next(timeout: .seconds(2))
            #expect(reset?["type"] as? String == "reset")
            #expect(reset?["reason"] as? String == "replay")
            #expect(reset?["resumed_after"] as? Int == 6)
            #expect(reset?["cursor"] as? String == "r:6")
            var seqs: [Int?] = []
            for _ in 7...10 { seqs.append(((await socket.next(timeout: .seconds(2)))?["notification"] as? [String: Any])?["seq"] as? Int) }
            #expect(seqs == [7, 8, 9, 10])
        }
        #expect(ContinuousClock.now - start < .seconds(2) * 1.5, "replays took \(ContinuousClock.now - start)")
        // And live delivery goes on after the replayed ones, once each.
        _ = try await SSETests.publish(second, "r", "11")
        for stream in streams { #expect(await stream.next()?.seq == 11) }
        for socket in sockets { #expect(((await socket.next(type: "notification"))?["notification"] as? [String: Any])?["seq"] as? Int == 11) }
        // The live subscribers used up the one-shot override.
        let entries = try await first.instance.cursors.entries(client: "jo")
        #expect(entries.first?.replayPending == false)
    }

    @Test("after a replay the client's next long-poll starts at the replay position whatever its after says, once; then after rules again")
    func pollOverride() async throws {
        let server = try await TestServer.start()
        defer { Task { await server.stop() } }
        for index in 1...8 { _ = try await SSETests.publish(server, "p", "\(index)") }
        _ = try await TestHTTP.get("\(server.baseURL)/v1/poll?topics=p&after=p:8&client=kim")
        await server.instance.cursors.flush()
        #expect(try await Self.put(server, client: "kim", topic: "p", seq: 5).status == 200)

        // A long-poll with an older after (the client's own idea of where it is).
        let replayed = try await TestHTTP.get("\(server.baseURL)/v1/poll?topics=p&after=p:8&client=kim&wait=5")
        #expect(Self.seqs(replayed) == [6, 7, 8])
        let reset = Self.resets(replayed).first
        #expect(reset?["reason"] as? String == "replay")
        #expect(reset?["requested_after"] as? Int == 8)
        #expect(reset?["resumed_after"] as? Int == 5)
        #expect(replayed.json["cursor"] as? String == "p:8")
        // One-shot: the next one is as usual.
        let next = try await TestHTTP.get("\(server.baseURL)/v1/poll?topics=p&after=p:7&client=kim")
        #expect(Self.seqs(next) == [8])
        #expect(Self.resets(next).isEmpty)
    }

    @Test("an ack from before a replay, written after it (a pending flush, another instance), does not undo it")
    func staleAck() async throws {
        let first = try await TestServer.start()
        defer { Task { await first.stop() } }
        let second = try await TestServer.start(databaseURL: first.databaseURL)
        defer { Task { await second.stop() } }
        for index in 1...9 { _ = try await SSETests.publish(first, "s", "\(index)") }
        _ = try await TestHTTP.get("\(first.baseURL)/v1/poll?topics=s&after=s:2&client=lee")
        await first.instance.cursors.flush()
        // The client acks 9 on the first instance; the admin replays from 3 on the second
        // before that ack is written.
        let socket = TestWebSocket.connect(WebSocketTests.url(first, "?client=lee"))
        defer { socket.close() }
        socket.send(#"{"type":"subscribe","topics":["other"]}"#)
        _ = await socket.next(type: "subscribed")
        socket.send(#"{"type":"ack","cursor":"s:9"}"#)
        socket.send(#"{"type":"ping"}"#)
        _ = await socket.next(type: "pong")
        #expect(try await Self.put(second, client: "lee", topic: "s", seq: 3).status == 200)
        await first.instance.cursors.flush()
        await second.instance.cursors.flush()
        let cursors = try await TestHTTP.get("\(second.baseURL)/v1/clients/lee/cursors")
        #expect((cursors.json["cursors"] as? [String: Any])?["s"] as? Int == 3)
        // The replay holds for the client's next start.
        let polled = try await TestHTTP.get("\(second.baseURL)/v1/poll?topics=s&client=lee&limit=1")
        #expect(Self.seqs(polled) == [4])
        #expect(Self.resets(polled).first?["reason"] as? String == "replay")
    }

    @Test("replay --since picks the first notification created at or after the time, clock-independently")
    func since() async throws {
        let server = try await TestServer.start()
        defer { Task { await server.stop() } }
        let admin = Admin(store: server.instance.store, cursors: server.instance.cursors)
        var created: [Int: String] = [:]
        for index in 1...3 {
            let answer = try await TestHTTP.postJSON("\(server.baseURL)/v1/topics/t/notifications", #"{"data":\#(index)}"#)
            created[index] = answer.json["created_at"] as? String
        }
        // A batch: several seqs with one created_at.
        let batch = try await TestHTTP.postJSON(
            "\(server.baseURL)/v1/notifications", #"{"notifications":[{"topic":"t","data":4},{"topic":"t","data":5}]}"#
        )
        let batchTime = ((batch.json["notifications"] as? [[String: Any]])?.first?["created_at"] as? String)!
        // Each notification's own created_at picks it (created_at never decreases with seq).
        for index in 1...3 {
            let replay = try await admin.replay(client: "mo", topic: "t", from: .since(.time(created[index]!)))
            #expect(replay.seq <= Int64(index) - 1)
            // Anything before it was created earlier: the next delivered is the first one at that time.
            let polled = try await TestHTTP.get("\(server.baseURL)/v1/poll?topics=t&client=mo&limit=1")
            let first = (polled.json["notifications"] as? [[String: Any]])?.first
            #expect(first?["created_at"] as? String == created[index])
        }
        let inBatch = try await admin.replay(client: "mo", topic: "t", from: .since(.time(batchTime)))
        #expect(inBatch.seq == 3)
        let future = try await admin.replay(client: "mo", topic: "t", from: .since(.time("2999-01-01T00:00:00Z")))
        #expect(future.seq == 5)
        let all = try await admin.replay(client: "mo", topic: "t", from: .since(.ago(.seconds(3600))))
        #expect(all.seq == 0)
        let fromSeq = try await admin.replay(client: "mo", topic: "t", from: .fromSeq(4))
        #expect(fromSeq.seq == 3)
    }

    @Test("a purge: the rows go, publishing goes on, and a subscriber behind it gets a purged reset (poll, SSE, a second instance)")
    func purge() async throws {
        let first = try await TestServer.start()
        defer { Task { await first.stop() } }
        let second = try await TestServer.start(databaseURL: first.databaseURL)
        defer { Task { await second.stop() } }
        for index in 1...10 { _ = try await SSETests.publish(first, "q", "\(index)") }
        let purged = try await TestHTTP.request(.DELETE, "\(first.baseURL)/v1/topics/q/notifications?through_seq=6")
        #expect(purged.status == 200)
        #expect(purged.json["purged_through"] as? Int == 6)
        #expect(purged.json["deleted"] as? Int == 6)
        #expect(try await TestDatabase(url: first.databaseURL).seqs("q") == [7, 8, 9, 10])
        #expect(try await SSETests.publish(first, "q", "11") == 11)

        let polled = try await TestHTTP.get("\(first.baseURL)/v1/poll?topics=q&after=q:2")
        #expect(Self.seqs(polled) == [7, 8, 9, 10, 11])
        #expect(Self.resets(polled).first?["reason"] as? String == "purged")
        #expect(Self.resets(polled).first?["resumed_after"] as? Int == 6)
        // The second instance heard of it on the control channel.
        let deadline = ContinuousClock.now + .seconds(5)
        while second.instance.store.purges["q"] == nil, ContinuousClock.now < deadline { try await Task.sleep(for: .milliseconds(20)) }
        let stream = try await SSEClient.open("\(second.baseURL)/v1/sse?topics=q&after=q:3")
        defer { stream.close() }
        let reset = await stream.next()
        #expect(reset?.event == "herald.reset")
        #expect(reset?.json["reason"] as? String == "purged")
        #expect(await stream.next()?.seq == 7)
        #expect(try await TestHTTP.get("\(first.baseURL)/v1/topics/q/notifications/3").status == 404)

        let past = try await TestHTTP.request(.DELETE, "\(first.baseURL)/v1/topics/q/notifications?through_seq=12")
        #expect(past.errorCode == "invalid_parameter")
        #expect(try await TestHTTP.request(.DELETE, "\(first.baseURL)/v1/topics/q/notifications").errorCode == "invalid_parameter")
        #expect(try await TestHTTP.request(.DELETE, "\(first.baseURL)/v1/topics/none/notifications?through_seq=1").status == 404)
        let topic = try await TestHTTP.get("\(first.baseURL)/v1/topics/q")
        #expect(topic.json["oldest_seq"] as? Int == 7)
        #expect(topic.json["purged_through"] as? Int == 6)
    }

    @Test("a purge whose DELETE waits (a row of its topic locked by another transaction) holds up no publish to that topic, and its mark counts at once")
    func purgeDoesNotStallPublishing() async throws {
        let server = try await TestServer.start()
        defer { Task { await server.stop() } }
        for index in 1...5 { _ = try await SSETests.publish(server, "h", "\(index)") }
        let pool = PostgresPool(configuration: .init(connectionString: server.databaseURL, maximumConnections: 2))
        defer { pool.shutdown() }
        let locked = Mailbox<Bool>()
        let release = Mailbox<Bool>()
        let holder = Task {
            try await pool.withTransaction { connection in
                _ = try await connection.query("SELECT seq FROM herald.notifications WHERE topic = 'h' AND seq = 2 FOR UPDATE")
                locked.put(true)
                _ = await release.take(timeout: .seconds(60))
            }
        }
        #expect(await locked.take() == true)
        let purge = Task { try await TestHTTP.request(.DELETE, "\(server.baseURL)/v1/topics/h/notifications?through_seq=3") }
        // The DELETE waits for the locked row...
        var waiting = 0
        let deadline = ContinuousClock.now + .seconds(10)
        while waiting == 0, ContinuousClock.now < deadline {
            let rows = try await pool.query(
                "SELECT count(*) FROM pg_stat_activity WHERE wait_event_type = 'Lock' AND query LIKE 'DELETE FROM herald.notifications%'"
            )
            waiting = try rows[0].decode(Int.self, at: 0)
            if waiting == 0 { try await Task.sleep(for: .milliseconds(20)) }
        }
        #expect(waiting == 1)
        // ...while the purge already counts for readers, and publishes to the topic commit.
        let polled = try await TestHTTP.get("\(server.baseURL)/v1/poll?topics=h&after=h:0")
        #expect(Self.seqs(polled) == [4, 5])
        for seq in 6...8 { #expect(try await SSETests.publish(server, "h", "\(seq)") == seq) }
        release.put(true)
        try await holder.value
        var answer = try await purge.value
        if answer.status == 503 {
            // The DELETE waited past the read pool's lock_timeout (a loaded machine): the purge
            // says so, and sent again it deletes the rest.
            #expect(answer.json["error"].map { "\($0)" }?.contains("send the purge again") == true, "\(answer.text)")
            answer = try await TestHTTP.request(.DELETE, "\(server.baseURL)/v1/topics/h/notifications?through_seq=3")
        }
        #expect(answer.status == 200)
        #expect(answer.json["deleted"] as? Int == 3)
        #expect(try await TestDatabase(url: server.databaseURL).seqs("h") == [4, 5, 6, 7, 8])
    }

    @Test("a subscriber whose every missed notification is gone (purged through the last seq) gets its reset and goes live, not a loop of reads")
    func purgedToTheEnd() async throws {
        let server = try await TestServer.start()
        defer { Task { await server.stop() } }
        for index in 1...4 { _ = try await SSETests.publish(server, "e", "\(index)") }
        _ = try await TestHTTP.request(.DELETE, "\(server.baseURL)/v1/topics/e/notifications?through_seq=4")
        let stream = try await SSEClient.open("\(server.baseURL)/v1/sse?topics=e&after=e:1")
        defer { stream.close() }
        let reset = await stream.next()
        #expect(reset?.json["reason"] as? String == "purged")
        #expect(reset?.json["resumed_after"] as? Int == 4)
        let reads = server.instance.pool.leaseCount
        try await Task.sleep(for: .milliseconds(500))
        #expect(server.instance.pool.leaseCount - reads < 20, "the subscription keeps reading the database")
        _ = try await SSETests.publish(server, "e", "5")
        #expect(await stream.next()?.seq == 5)
    }

    @Test("a subscriber whose every missed notification expired gets an expired reset and goes live, not a loop of reads")
    func expiredToTheEnd() async throws {
        let server = try await TestServer.start()
        defer { Task { await server.stop() } }
        _ = try await SSETests.publish(server, "x", "1")
        for index in 2...4 { _ = try await SSETests.publish(server, "x", "\(index)", ttl: 1) }
        try await Task.sleep(for: .milliseconds(1500))
        let stream = try await SSEClient.open("\(server.baseURL)/v1/sse?topics=x&after=x:1")
        defer { stream.close() }
        let reset = await stream.next()
        #expect(reset?.event == "herald.reset")
        #expect(reset?.json["reason"] as? String == "expired")
        #expect(reset?.json["requested_after"] as? Int == 1)
        #expect(reset?.json["resumed_after"] as? Int == 4)
        let reads = server.instance.pool.leaseCount
        try await Task.sleep(for: .milliseconds(500))
        #expect(server.instance.pool.leaseCount - reads < 20, "the subscription keeps reading the database")
        _ = try await SSETests.publish(server, "x", "5")
        #expect(await stream.next()?.seq == 5)
    }

    @Test("with authentication on, the admin API needs an admin token: 401 without one, 403 with another's")
    func needsAdmin() async throws {
        let server = try await AuthenticationTests.start()
        defer { Task { await server.stop() } }
        let tokens = try await AuthenticationTests.Tokens.make()
        let requests: [(HTTPMethod, String, [UInt8]?)] = [
            (.GET, "/v1/topics", nil), (.GET, "/v1/topics/orders.eu", nil),
            (.PUT, "/v1/clients/alice/cursors/orders.eu", Array(#"{"seq":0}"#.utf8)),
            (.DELETE, "/v1/clients/alice/cursors/orders.eu", nil), (.DELETE, "/v1/topics/orders.eu/notifications?through_seq=1", nil),
        ]
        for (method, path, body) in requests {
            let anonymous = try await TestHTTP.request(method, server.baseURL + path, body: body)
            #expect(anonymous.status == 401, "\(method) \(path)")
            let alice = try await TestHTTP.request(method, server.baseURL + path, body: body, headers: [("Authorization", "Bearer \(tokens.alice)")])
            #expect(alice.status == 403, "\(method) \(path)")
        }
        let admin = tokens.headers(.admin)
        #expect(try await TestHTTP.request(.GET, server.baseURL + "/v1/topics", headers: admin).status == 200)
        #expect(try await TestHTTP.request(.PUT, server.baseURL + "/v1/clients/alice/cursors/orders.eu", body: Array(#"{"seq":0}"#.utf8), headers: admin).status == 200)
    }
}
