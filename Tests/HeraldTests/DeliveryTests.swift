import Foundation
import HeraldCore
import HeraldPostgres
import HeraldServer
import Testing

/// What a subscriber saw, per topic.
struct Seen: Sendable {
    var seqs: [String: [Int]] = [:]

    mutating func add(topic: String, seq: Int) {
        self.seqs[topic, default: []].append(seq)
    }

    var count: Int { self.seqs.values.reduce(0) { $0 + $1.count } }

    /// Whether every topic's seqs are exactly 1...expected[topic], in order.
    func isExactly(_ expected: [String: Int]) -> Bool {
        expected.allSatisfy { topic, count in self.seqs[topic] ?? [] == Array(1...max(count, 1)).prefix(count).map { $0 } }
    }
}

@Suite("Live delivery under load and faults", .serialized)
struct DeliveryTests {
    static func collectSSE(_ stream: SSEClient, total: Int, timeout: Duration = .seconds(60)) async -> Seen {
        var seen = Seen()
        let deadline = ContinuousClock.now + timeout
        while seen.count < total, ContinuousClock.now < deadline {
            guard let event = await stream.next(timeout: deadline - ContinuousClock.now) else { break }
            if let topic = event.topic, let seq = event.seq { seen.add(topic: topic, seq: seq) }
        }
        return seen
    }

    static func collectWS(_ socket: TestWebSocket, total: Int, timeout: Duration = .seconds(60)) async -> Seen {
        var seen = Seen()
        let deadline = ContinuousClock.now + timeout
        while seen.count < total, ContinuousClock.now < deadline {
            guard let message = await socket.next(type: "notification", timeout: deadline - ContinuousClock.now) else { break }
            if let notification = message["notification"] as? [String: Any], let topic = notification["topic"] as? String,
                let seq = notification["seq"] as? Int
            {
                seen.add(topic: topic, seq: seq)
            }
        }
        return seen
    }

    /// An SSE subscriber that disconnects every ~50 events and resumes with Last-Event-ID,
    /// dropping repeats by (topic, seq).
    static func collectResuming(_ server: TestServer, query: String, total: Int) async throws -> Seen {
        var seen = Seen()
        var delivered = Set<String>()
        var lastID: String? = nil
        let deadline = ContinuousClock.now + .seconds(90)
        while seen.count < total, ContinuousClock.now < deadline {
            let stream = try await SSEClient.open(
                "\(server.baseURL)/v1/sse?\(query)", headers: lastID.map { [("Last-Event-ID", $0)] } ?? []
            )
            for _ in 0..<Int.random(in: 40...60) {
                guard let event = await stream.next(timeout: .seconds(20)) else { break }
                lastID = event.id ?? lastID
                guard let topic = event.topic, let seq = event.seq else { continue }
                if delivered.insert("\(topic):\(seq)").inserted { seen.add(topic: topic, seq: seq) }
                if seen.count >= total { break }
            }
            stream.close()
        }
        return seen
    }

    @Test("8 publishers × 250 over 3 topics through 2 instances: SSE and WebSocket subscribers on both see 1..N in order")
    func orderingStress() async throws {
        let first = try await TestServer.start()
        let second = try await TestServer.start(databaseURL: first.databaseURL)
        defer { Task { await first.stop(); await second.stop() } }
        let topics = ["s0", "s1", "s2"]
        let query = "topics=s0,s1,s2&after=s0:0,s1:0,s2:0"
        let total = 8 * 250
        var sse: [SSEClient] = []
        var sockets: [TestWebSocket] = []
        for server in [first, second] {
            for _ in 0..<3 { sse.append(try await SSEClient.open("\(server.baseURL)/v1/sse?\(query)")) }
            for _ in 0..<3 { sockets.append(TestWebSocket.connect(WebSocketTests.url(server, "?\(query)"))) }
        }
        for socket in sockets { _ = await socket.next(type: "subscribed") }
        async let resuming = Self.collectResuming(first, query: query, total: total)

        try await withThrowingTaskGroup(of: Void.self) { group in
            for publisher in 0..<8 {
                let server = publisher.isMultiple(of: 2) ? first : second
                group.addTask {
                    for index in 0..<250 {
                        let answer = try await TestHTTP.postJSON(
                            "\(server.baseURL)/v1/topics/\(topics[(publisher + index) % 3])/notifications", #"{"data":\#(index)}"#
                        )
                        guard answer.status == 201 else { throw TestFailure("publish failed: \(answer.text)") }
                    }
                }
            }
            try await group.waitForAll()
        }
        let database = TestDatabase(url: first.databaseURL)
        var expected: [String: Int] = [:]
        for topic in topics { expected[topic] = try await database.seqs(topic).count }
        #expect(expected.values.reduce(0, +) == total)

        for (index, stream) in sse.enumerated() {
            let seen = await Self.collectSSE(stream, total: total)
            #expect(seen.isExactly(expected), "SSE subscriber \(index) saw \(seen.count) of \(total), out of order or with gaps")
            stream.close()
        }
        for (index, socket) in sockets.enumerated() {
            let seen = await Self.collectWS(socket, total: total)
            #expect(seen.isExactly(expected), "WebSocket subscriber \(index) saw \(seen.count) of \(total), out of order or with gaps")
            socket.close()
        }
        let resumed = try await resuming
        #expect(resumed.isExactly(expected), "the resuming subscriber saw \(resumed.count) of \(total)")
    }

    @Test("a paused reader later gets all 5,000 notifications in order, while another subscriber kept receiving live")
    func pausedReader() async throws {
        let server = try await TestServer.start()
        defer { Task { await server.stop() } }
        let paused = try await SSEClient.open("\(server.baseURL)/v1/sse?topics=slow&after=slow:0")
        let live = try await SSEClient.open("\(server.baseURL)/v1/sse?topics=slow&after=slow:0")
        defer { paused.close(); live.close() }
        paused.pause()
        let started = ContinuousClock.now
        // 5,000 notifications of 2 KiB: more than socket buffers hold, so the server's
        // writes to the paused reader back up and its inbox overflows.
        let payload = "\"" + String(repeating: "x", count: 2048) + "\""
        async let liveSeen = Self.collectSSE(live, total: 5000)
        for batch in 0..<50 {
            let items = (0..<100).map { _ in #"{"topic":"slow","data":\#(payload),"event":"b\#(batch)"}"# }.joined(separator: ",")
            let answer = try await TestHTTP.postJSON("\(server.baseURL)/v1/notifications", #"{"notifications":[\#(items)]}"#)
            #expect(answer.status == 201)
        }
        let publishedAt = ContinuousClock.now
        let liveResult = await liveSeen
        let liveDone = ContinuousClock.now
        #expect(liveResult.isExactly(["slow": 5000]), "the live subscriber saw \(liveResult.count)")
        // The live one kept up: it had everything moments after the last publish, while
        // the other was still paused.
        #expect(liveDone - publishedAt < .seconds(2))
        #expect(paused.events.count < 5000)
        try await Task.sleep(until: max(started + .seconds(10), liveDone + .seconds(1)), clock: .continuous)
        paused.resume()
        let pausedResult = await Self.collectSSE(paused, total: 5000)
        #expect(pausedResult.isExactly(["slow": 5000]), "the paused subscriber saw \(pausedResult.count)")
        // It really fell behind and caught up from the database, rather than being buffered.
        #expect(server.instance.hub.overflowCount > 0)
    }

    @Test("subscribers that stall and resume again and again, while notifications keep coming, still see exactly 1..N")
    func stallingReaders() async throws {
        let server = try await TestServer.start()
        defer { Task { await server.stop() } }
        var opened: [SSEClient] = []
        for _ in 0..<4 { opened.append(try await SSEClient.open("\(server.baseURL)/v1/sse?topics=st&after=st:0")) }
        let streams = opened
        defer { for stream in streams { stream.close() } }
        let stalling = Task {
            // Each reader stops reading for a moment, now and then, so its socket fills,
            // direct delivery gives way to catching up, and it rejoins.
            while !Task.isCancelled {
                for stream in streams.shuffled().prefix(2) { stream.pause() }
                try? await Task.sleep(for: .milliseconds(Int.random(in: 20...120)))
                for stream in streams { stream.resume() }
                try? await Task.sleep(for: .milliseconds(Int.random(in: 10...60)))
            }
        }
        let payload = "\"" + String(repeating: "y", count: 1500) + "\""
        for batch in 0..<30 {
            let items = (0..<100).map { _ in #"{"topic":"st","data":\#(payload),"event":"b\#(batch)"}"# }.joined(separator: ",")
            let answer = try await TestHTTP.postJSON("\(server.baseURL)/v1/notifications", #"{"notifications":[\#(items)]}"#)
            #expect(answer.status == 201)
        }
        stalling.cancel()
        for stream in streams { stream.resume() }
        for (index, stream) in streams.enumerated() {
            let seen = await Self.collectSSE(stream, total: 3000)
            #expect(seen.isExactly(["st": 3000]), "reader \(index) saw \(seen.count) of 3000, out of order or with gaps")
        }
    }

    @Test("the LISTEN connection killed with pg_terminate_backend while publishing: no subscriber misses anything")
    func listenerKilled() async throws {
        let server = try await TestServer.start()
        defer { Task { await server.stop() } }
        let stream = try await SSEClient.open("\(server.baseURL)/v1/sse?topics=k&after=k:0")
        let socket = TestWebSocket.connect(WebSocketTests.url(server, "?topics=k&after=k:0"))
        defer { stream.close(); socket.close() }
        _ = await socket.next(type: "subscribed")
        let database = TestDatabase(url: server.databaseURL)
        try await withThrowingTaskGroup(of: Void.self) { group in
            group.addTask {
                for index in 0..<400 {
                    let answer = try await TestHTTP.postJSON("\(server.baseURL)/v1/topics/k/notifications", #"{"data":\#(index)}"#)
                    guard answer.status == 201 else { throw TestFailure("publish failed: \(answer.text)") }
                }
            }
            group.addTask {
                for _ in 0..<3 {
                    try await Task.sleep(for: .milliseconds(150))
                    let killed = try await database.query(
                        "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity WHERE application_name = 'herald-listener' AND datname = current_database()"
                    )
                    #expect(try killed[0].decode(Int.self, at: 0) == 1)
                }
            }
            try await group.waitForAll()
        }
        #expect((await Self.collectSSE(stream, total: 400)).isExactly(["k": 400]))
        #expect((await Self.collectWS(socket, total: 400)).isExactly(["k": 400]))
    }

    @Test("while PostgreSQL restarts, subscribers stay connected and then receive everything committed")
    func databaseRestart() async throws {
        let cluster = try DurabilityTests.privateCluster()
        let server = try await TestServer.start(databaseURL: cluster.connectionString)
        defer { Task { await server.stop() } }
        let stream = try await SSEClient.open("\(server.baseURL)/v1/sse?topics=d&after=d:0")
        let socket = TestWebSocket.connect(WebSocketTests.url(server, "?topics=d&after=d:0"))
        defer { stream.close(); socket.close() }
        _ = await socket.next(type: "subscribed")
        for index in 0..<20 { _ = try await SSETests.publish(server, "d", "\(index)") }
        try cluster.stop(mode: .immediate)
        let refused = try await TestHTTP.postJSON("\(server.baseURL)/v1/topics/d/notifications", #"{"data":"x"}"#)
        #expect(refused.status == 503)
        #expect(try await TestHTTP.get("\(server.baseURL)/readyz").status == 503)
        try await Task.sleep(for: .milliseconds(500))
        try cluster.start()
        var published = 20
        let deadline = ContinuousClock.now + .seconds(20)
        while published < 40, ContinuousClock.now < deadline {
            let answer = try await TestHTTP.postJSON("\(server.baseURL)/v1/topics/d/notifications", #"{"data":\#(published)}"#)
            if answer.status == 201 { published += 1 } else { try await Task.sleep(for: .milliseconds(100)) }
        }
        #expect(published == 40)
        #expect((await Self.collectSSE(stream, total: 40)).isExactly(["d": 40]))
        #expect(!stream.events.isFinished, "the SSE stream was closed")
        #expect((await Self.collectWS(socket, total: 40)).isExactly(["d": 40]))
    }
}
