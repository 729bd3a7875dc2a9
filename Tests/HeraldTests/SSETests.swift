import Foundation
import HeraldServer
import NIOHTTP1
import Testing

@Suite("Server-Sent Events")
struct SSETests {
    static func publish(_ server: TestServer, _ topic: String, _ data: String, ttl: Int? = nil) async throws -> Int {
        let ttlField = ttl.map { #","ttl":\#($0)"# } ?? ""
        let answer = try await TestHTTP.postJSON("\(server.baseURL)/v1/topics/\(topic)/notifications", #"{"data":\#(data)\#(ttlField)}"#)
        guard answer.status == 201, let seq = answer.json["seq"] as? Int else { throw TestFailure("publish: \(answer.text)") }
        return seq
    }

    @Test("framing: retry first, then id (the cursor after the event), event and one data line per notification")
    func framing() async throws {
        let server = try await TestServer.start()
        defer { Task { await server.stop() } }
        _ = try await Self.publish(server, "a", #"{"before":true}"#)
        let stream = try await SSEClient.open("\(server.baseURL)/v1/sse?topics=a,b")
        defer { stream.close() }
        #expect(stream.status == 200)
        #expect(stream.header("Content-Type") == "text/event-stream")
        #expect(stream.header("Cache-Control") == "no-cache")
        #expect(stream.header("X-Accel-Buffering") == "no")
        // Started "now": what was there before is not sent.
        _ = try await TestHTTP.request(
            .POST, "\(server.baseURL)/v1/topics/a/notifications",
            body: Array(#"{"event":"order.created","data":{"multi":"line\nvalue"}}"#.utf8), headers: [("Content-Type", "application/json")]
        )
        _ = try await Self.publish(server, "b", #""b1""#)
        let first = try #require(await stream.next())
        #expect(stream.retryMilliseconds == 1000)
        #expect(first.event == "order.created")
        #expect(first.id == "a:2,b:0")
        #expect(first.topic == "a")
        #expect(first.seq == 2)
        #expect((first.json["data"] as? [String: Any])?["multi"] as? String == "line\nvalue")
        #expect(!first.data.contains("\n"))
        let second = try #require(await stream.next())
        #expect(second.id == "a:2,b:1")
        #expect(second.event == "message")
        #expect(second.json["data"] as? String == "b1")
    }

    @Test("a comment keep-alive goes out at least every --heartbeat")
    func heartbeat() async throws {
        let server = try await TestServer.start { $0.server.heartbeat = .milliseconds(300) }
        defer { Task { await server.stop() } }
        let stream = try await SSEClient.open("\(server.baseURL)/v1/sse?topics=quiet")
        defer { stream.close() }
        // Three periods and a little more; on a loaded machine timers slip, so wait up to
        // 4 s for the third comment rather than failing at exactly 1.3 s.
        let started = ContinuousClock.now
        while stream.commentCount < 3, ContinuousClock.now - started < .seconds(4) {
            try await Task.sleep(for: .milliseconds(100))
        }
        #expect(stream.commentCount >= 3)
    }

    @Test("Last-Event-ID resumes exactly after that cursor, and the after parameter and stored cursors give way to it")
    func resume() async throws {
        let server = try await TestServer.start()
        defer { Task { await server.stop() } }
        for index in 1...5 { _ = try await Self.publish(server, "r", "\(index)") }
        let first = try await SSEClient.open("\(server.baseURL)/v1/sse?topics=r&after=r:0")
        var seen: [Int] = []
        var lastID: String?
        for _ in 0..<3 {
            let event = try #require(await first.next())
            seen.append(event.seq ?? 0)
            lastID = event.id
        }
        first.close()
        #expect(seen == [1, 2, 3])
        #expect(lastID == "r:3")
        let resumed = try await SSEClient.open(
            "\(server.baseURL)/v1/sse?topics=r&after=r:0", headers: [("Last-Event-ID", try #require(lastID))]
        )
        defer { resumed.close() }
        #expect(await resumed.next()?.seq == 4)
        #expect(await resumed.next()?.seq == 5)
        _ = try await Self.publish(server, "r", "6")
        #expect(await resumed.next()?.seq == 6)
    }

    @Test("a start in expired history gets herald.reset first, then the oldest retained notification")
    func reset() async throws {
        let server = try await TestServer.start()
        defer { Task { await server.stop() } }
        _ = try await Self.publish(server, "x", "1")
        _ = try await Self.publish(server, "x", "2", ttl: 1)
        _ = try await Self.publish(server, "x", "3", ttl: 1)
        _ = try await Self.publish(server, "x", "4")
        try await Task.sleep(for: .milliseconds(1300))
        let stream = try await SSEClient.open("\(server.baseURL)/v1/sse?topics=x&after=x:1")
        defer { stream.close() }
        let reset = try #require(await stream.next())
        #expect(reset.event == "herald.reset")
        #expect(reset.json["topic"] as? String == "x")
        #expect(reset.json["requested_after"] as? Int == 1)
        #expect(reset.json["resumed_after"] as? Int == 3)
        #expect(reset.json["reason"] as? String == "expired")
        #expect(reset.id == "x:3")
        let next = try #require(await stream.next())
        #expect(next.seq == 4)
    }

    @Test("an expiring notification in the middle of a live stream is replaced by a reset")
    func liveExpiry() async throws {
        let server = try await TestServer.start()
        defer { Task { await server.stop() } }
        let stream = try await SSEClient.open("\(server.baseURL)/v1/sse?topics=live&after=live:0")
        defer { stream.close() }
        _ = try await Self.publish(server, "live", "1")
        #expect(await stream.next()?.seq == 1)
        stream.pause()
        _ = try await Self.publish(server, "live", "2", ttl: 1)
        _ = try await Self.publish(server, "live", "3")
        try await Task.sleep(for: .milliseconds(100))
        stream.resume()
        // Seen before it expired, 2 is delivered; a slow reader after the expiry gets a reset.
        let next = try #require(await stream.next())
        if next.event == "herald.reset" {
            #expect(next.json["resumed_after"] as? Int == 2)
        } else {
            #expect(next.seq == 2)
        }
        #expect(await stream.next()?.seq == 3)
    }

    @Test("CORS: an allowed origin gets Access-Control-Allow-Origin and preflights are answered; others get none")
    func cors() async throws {
        let server = try await TestServer.start { $0.server.corsOrigins = ["https://app.example"] }
        defer { Task { await server.stop() } }
        let allowed = try await SSEClient.open("\(server.baseURL)/v1/sse?topics=c", headers: [("Origin", "https://app.example")])
        #expect(allowed.header("Access-Control-Allow-Origin") == "https://app.example")
        allowed.close()
        let other = try await SSEClient.open("\(server.baseURL)/v1/sse?topics=c", headers: [("Origin", "https://evil.example")])
        #expect(other.header("Access-Control-Allow-Origin") == nil)
        other.close()
        let preflight = try await TestHTTP.request(
            .OPTIONS, "\(server.baseURL)/v1/topics/c/notifications",
            headers: [("Origin", "https://app.example"), ("Access-Control-Request-Method", "POST")]
        )
        #expect(preflight.status == 204)
        #expect(preflight.header("Access-Control-Allow-Methods")?.contains("POST") == true)
        #expect(preflight.header("Access-Control-Allow-Headers")?.contains("Idempotency-Key") == true)
        let plain = try await TestServer.start()
        defer { Task { await plain.stop() } }
        let sameOriginOnly = try await TestHTTP.get("\(plain.baseURL)/healthz")
        #expect(sameOriginOnly.header("Access-Control-Allow-Origin") == nil)
    }

    @Test("bad subscriptions are refused before the stream starts", arguments: [
        ("", "invalid_topic"), ("?topics=bad%20topic", "invalid_topic"), ("?topics=a&after=b:1", "invalid_cursor"),
        ("?topics=a&client=no%20spaces", "invalid_client"),
    ])
    func refused(_ query: String, _ code: String) async throws {
        let server = try await TestServer.start()
        defer { Task { await server.stop() } }
        let answer = try await TestHTTP.get("\(server.baseURL)/v1/sse\(query)")
        #expect(answer.status == 400)
        #expect(answer.errorCode == code)
    }

    @Test("access_token is accepted in the query (EventSource cannot set headers)")
    func accessToken() async throws {
        let server = try await TestServer.start()
        defer { Task { await server.stop() } }
        let stream = try await SSEClient.open("\(server.baseURL)/v1/sse?topics=t&access_token=anything")
        defer { stream.close() }
        #expect(stream.status == 200)
    }

    @Test("a stream's connection ignores what its client sends (no request is served from it), and its end closes the chunked body")
    func streamConnectionIsTheStreams() async throws {
        let server = try await TestServer.start()
        var stopped = false
        defer { if !stopped { Task { await server.stop() } } }
        let client = try await RawWebSocket.open(port: server.port)
        defer { client.close() }
        client.sendRaw(Array("GET /v1/sse?topics=raw HTTP/1.1\r\nHost: x\r\n\r\n".utf8))
        let head = try #require(await client.receive(until: "id: raw:0"))
        #expect(head.hasPrefix("HTTP/1.1 200"))
        #expect(head.lowercased().contains("transfer-encoding: chunked"))
        _ = try await Self.publish(server, "raw", "1")
        let first = try #require(await client.receive(until: "id: raw:1"))
        // Not HTTP, then a whole publish request: neither is parsed or answered.
        client.sendRaw(Array("\u{1}garbage\r\n\r\nPOST /v1/topics/raw/notifications HTTP/1.1\r\nHost: x\r\n".utf8))
        client.sendRaw(Array("Content-Type: application/json\r\nContent-Length: 10\r\n\r\n{\"data\":2}".utf8))
        _ = try await Self.publish(server, "raw", "3")
        let later = try #require(await client.receive(until: "id: raw:2"))
        #expect(!later.contains("HTTP/1.1"), "\(later)")
        #expect(try await TestDatabase(url: server.databaseURL).seqs("raw") == [1, 2])
        // Graceful shutdown ends the stream: the last chunk, then the connection closes.
        stopped = true
        await server.stop()
        let (rest, closed) = await client.readUntilClosed(timeout: 10)
        #expect(closed)
        // The whole body is well-formed chunks, and ends with the last chunk.
        let whole = head + first + later + String(decoding: rest, as: UTF8.self)
        let body = try #require(whole.range(of: "\r\n\r\n")).upperBound
        let chunks = try #require(Self.chunks(Array(whole[body...].utf8)), "\(whole)")
        #expect(chunks.last == "", "the body did not end with the last chunk")
        #expect(chunks.joined().contains("id: raw:2\nevent: message\ndata: "))
    }

    /// The data of each chunk of a chunked body (the last one empty), or nil if it is not
    /// framed as chunks exactly to its end.
    static func chunks(_ body: [UInt8]) -> [String]? {
        var chunks: [String] = []
        var index = 0
        while index < body.count {
            guard let lineEnd = body[index...].firstIndex(of: UInt8(ascii: "\r")),
                let size = Int(String(decoding: body[index..<lineEnd], as: UTF8.self), radix: 16)
            else { return nil }
            let start = lineEnd + 2
            guard start + size + 2 <= body.count, body[start + size] == UInt8(ascii: "\r") else { return nil }
            chunks.append(String(decoding: body[start..<start + size], as: UTF8.self))
            index = start + size + 2
            if size == 0 { return index == body.count ? chunks : nil }
        }
        return nil
    }
}
