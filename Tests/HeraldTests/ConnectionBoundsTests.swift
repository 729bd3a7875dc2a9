import Foundation
import HeraldCore
import HeraldServer
import NIOCore
import Testing

#if canImport(Glibc)
import Glibc
#endif

@Suite("Connections: time limits, a connection cap, read gating")
struct ConnectionBoundsTests {
    @Test("a client trickling its request head a byte at a time is answered 408 and closed after --request-timeout")
    func slowHead() async throws {
        let server = try await TestServer.start { $0.server.requestTimeout = .seconds(1) }
        defer { Task { await server.stop() } }
        let client = try await RawWebSocket.open(port: server.port)
        defer { client.close() }
        let started = ContinuousClock.now
        let trickle = Task.detached {
            for byte in Array("GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Slow: ".utf8) + Array(repeating: UInt8(ascii: "a"), count: 100) {
                client.sendRaw([byte])
                try await Task.sleep(for: .milliseconds(100))
            }
        }
        let (bytes, closed) = await client.readUntilClosed(timeout: 10)
        trickle.cancel()
        _ = await trickle.result
        let answer = String(decoding: bytes, as: UTF8.self)
        #expect(closed, "the connection stayed open")
        #expect(answer.hasPrefix("HTTP/1.1 408"), "\(answer)")
        #expect(answer.contains(#""code":"request_timeout""#), "\(answer)")
        #expect(ContinuousClock.now - started < .seconds(5), "cut off after \(ContinuousClock.now - started)")
        // A whole request is served as usual meanwhile.
        #expect(try await TestHTTP.get("\(server.baseURL)/healthz").status == 200)
    }

    @Test("a publish whose body never finishes arriving is answered 408 and nothing is stored")
    func slowBody() async throws {
        let server = try await TestServer.start { $0.server.requestTimeout = .seconds(1) }
        defer { Task { await server.stop() } }
        let client = try await RawWebSocket.open(port: server.port)
        defer { client.close() }
        client.sendRaw(Array("POST /v1/topics/slow/notifications HTTP/1.1\r\nHost: x\r\nContent-Length: 100\r\n\r\nonly part".utf8))
        let (bytes, closed) = await client.readUntilClosed(timeout: 10)
        #expect(closed)
        #expect(String(decoding: bytes, as: UTF8.self).hasPrefix("HTTP/1.1 408"))
        #expect(try await TestDatabase(url: server.databaseURL).seqs("slow").isEmpty)
    }

    @Test("an idle keep-alive connection is closed after --idle-timeout; an open stream is not")
    func idle() async throws {
        // 3 s: a loaded test machine may take over a second to read the first request,
        // which must not count as idle.
        let server = try await TestServer.start { $0.server.idleTimeout = .seconds(3) }
        defer { Task { await server.stop() } }
        let keepAlive = try await RawWebSocket.open(port: server.port)
        defer { keepAlive.close() }
        keepAlive.sendRaw(Array("GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n".utf8))
        let stream = try await SSEClient.open("\(server.baseURL)/v1/sse?topics=idle")
        defer { stream.close() }
        let (answer, closed) = await keepAlive.readUntilClosed(timeout: 15)
        #expect(String(decoding: answer, as: UTF8.self).hasPrefix("HTTP/1.1 200"))
        #expect(closed, "the idle connection stayed open")
        // The stream, idle as long, still delivers.
        _ = try await SSETests.publish(server, "idle", "1")
        #expect(await stream.next()?.seq == 1)
    }

    @Test("--max-connections 20: with 20 streams open the next connection gets 503 unavailable and is closed, the open ones go on, and once some close new ones are served")
    func connectionCap() async throws {
        let server = try await TestServer.start { $0.server.maximumConnections = 20 }
        defer { Task { await server.stop() } }
        var streams: [RawWebSocket] = []
        for _ in 0..<20 {
            let stream = try await RawWebSocket.connect(port: server.port, path: "/v1/sse?topics=cap", headers: ["Accept: text/event-stream"])
            #expect(stream.status == 200)
            streams.append(stream)
        }
        for _ in 0..<3 {
            let refused = try await RawWebSocket.open(port: server.port)
            refused.sendRaw(Array("GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n".utf8))
            let (bytes, closed) = await refused.readUntilClosed(timeout: 5)
            let answer = String(decoding: bytes, as: UTF8.self)
            #expect(answer.hasPrefix("HTTP/1.1 503"), "\(answer)")
            #expect(answer.contains(#""code":"unavailable""#))
            #expect(answer.contains("Retry-After"))
            #expect(closed)
            refused.close()
        }
        // The open streams were not disturbed: they still deliver (published through another
        // instance: this one takes no more connections).
        let other = try await TestServer.start(databaseURL: server.databaseURL)
        defer { Task { await other.stop() } }
        _ = try await SSETests.publish(other, "cap", #""all""#)
        for stream in streams.prefix(5) {
            #expect(await stream.receive(until: #""data":"all""#) != nil)
        }
        #expect(server.instance.connectionCount == 20)
        for stream in streams.prefix(5) { stream.close() }
        let noticed = ContinuousClock.now + .seconds(20)
        while server.instance.connectionCount > 15, ContinuousClock.now < noticed { try await Task.sleep(for: .milliseconds(50)) }
        #expect(server.instance.connectionCount == 15, "the server still counts \(server.instance.connectionCount) connections")
        // Closed ones free their places (a loaded machine may take a moment to notice).
        let deadline = ContinuousClock.now + .seconds(20)
        var last = "nothing"
        while ContinuousClock.now < deadline {
            do {
                let answer = try await TestHTTP.get("\(server.baseURL)/healthz", timeout: .seconds(5))
                last = "\(answer.status) \(answer.text)"
                if answer.status == 200 { break }
            } catch {
                last = "\(error)"
            }
            try await Task.sleep(for: .milliseconds(100))
        }
        #expect(last.hasPrefix("200"), "no connection was served after five streams closed: \(last); open: \(server.instance.connectionCount)")
        for stream in streams.dropFirst(5) { stream.close() }
    }

    @Test("a WebSocket upgrade from another origin gets 403 before the upgrade; same origin, an allowed origin and no Origin are upgraded")
    func webSocketOrigin() async throws {
        let server = try await TestServer.start { $0.server.corsOrigins = ["https://app.example"] }
        defer { Task { await server.stop() } }
        let evil = try await RawWebSocket.connect(port: server.port, path: "/v1/ws?topics=o", headers: RawWebSocket.upgrade + ["Origin: https://evil.example"])
        defer { evil.close() }
        #expect(evil.status == 403)
        #expect(evil.response.lowercased().contains("content-type: application/json"))
        let (body, _) = await evil.readUntilClosed(timeout: 5)
        #expect(String(decoding: body, as: UTF8.self).contains(#""code":"forbidden""#))
        for origin in ["https://app.example", "http://127.0.0.1:\(server.port)", nil] {
            let socket = try await RawWebSocket.connect(
                port: server.port, path: "/v1/ws?topics=o", headers: RawWebSocket.upgrade + (origin.map { ["Origin: \($0)"] } ?? [])
            )
            #expect(socket.status == 101, "\(origin ?? "no Origin")")
            socket.close()
        }
        // Without --cors-origin only the server's own origin may.
        let plain = try await TestServer.start()
        defer { Task { await plain.stop() } }
        let other = try await RawWebSocket.connect(port: plain.port, path: "/v1/ws", headers: RawWebSocket.upgrade + ["Origin: https://app.example"])
        #expect(other.status == 403)
        other.close()
    }

    @Test("a text frame that is not UTF-8 closes the WebSocket with 1007")
    func invalidUTF8() async throws {
        let server = try await TestServer.start()
        defer { Task { await server.stop() } }
        let socket = try await RawWebSocket.connect(port: server.port, path: "/v1/ws")
        defer { socket.close() }
        socket.send(opcode: 0x1, Array(#"{"type":"ping"}"#.utf8))
        #expect(await socket.nextText() == #"{"type":"pong"}"#)
        socket.send(opcode: 0x1, [0x7B, 0xC3, 0x28, 0x7D])
        let frames = try #require(await socket.framesUntilClosed(timeout: 5), "the connection stayed open")
        #expect(frames.filter { $0.opcode == 0x8 }.map(\.closeCode) == [1007])
    }
}
