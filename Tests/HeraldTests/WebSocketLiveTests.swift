import Foundation
import HeraldCore
import HeraldServer
import Testing

extension IsolatedTests {
    /// WebSocket subscribers are written to from the event loop (`WebSocketLiveSink`), as SSE
    /// streams are: these check that the way in and out of that path loses nothing.
    @Suite("WebSocket: live delivery from the event loop")
    struct WebSocketLiveTests {
        /// Publishes `count` notifications of `size` bytes to `topic`, 100 per request.
        static func publish(_ server: TestServer, _ topic: String, count: Int, size: Int) async throws {
            let payload = "\"" + String(repeating: "w", count: size) + "\""
            for start in stride(from: 0, to: count, by: 100) {
                let items = (start..<min(count, start + 100)).map { _ in #"{"topic":"\#(topic)","data":\#(payload)}"# }
                let answer = try await TestHTTP.postJSON(
                    "\(server.baseURL)/v1/notifications", #"{"notifications":[\#(items.joined(separator: ","))]}"#
                )
                guard answer.status == 201 else { throw TestFailure("publish: \(answer.status) \(answer.text)") }
            }
        }

        @Test("a WebSocket reader that stops reading overflows and catches up: 3,000 in order, while another kept receiving live")
        func pausedReader() async throws {
            let server = try await TestServer.start()
            defer { Task { await server.stop() } }
            // A client with a small receive buffer that reads nothing until everything is published.
            let paused = try await RawWebSocket.connect(port: server.port, path: "/v1/ws?topics=wsp&after=wsp:0", receiveBuffer: 4096)
            defer { paused.close() }
            #expect(paused.status == 101)
            let live = TestWebSocket.connect(WebSocketTests.url(server, "?topics=wsp&after=wsp:0"))
            defer { live.close() }
            #expect(await live.next(type: "subscribed") != nil)
            async let liveSeen = DeliveryTests.collectWS(live, total: 3000)
            try await Self.publish(server, "wsp", count: 3000, size: 1500)
            let liveResult = await liveSeen
            #expect(liveResult.isExactly(["wsp": 3000]), "the live subscriber saw \(liveResult.count)")
            var seen = Seen()
            var cursors: [String] = []
            while seen.count < 3000, let text = await paused.nextText(timeout: 30) {
                guard let message = try JSONSerialization.jsonObject(with: Data(text.utf8)) as? [String: Any],
                    message["type"] as? String == "notification", let notification = message["notification"] as? [String: Any],
                    let seq = notification["seq"] as? Int
                else { continue }
                seen.add(topic: "wsp", seq: seq)
                cursors.append(message["cursor"] as? String ?? "")
            }
            #expect(seen.isExactly(["wsp": 3000]), "the paused subscriber saw \(seen.count) of 3000, out of order or with gaps")
            #expect(cursors.last == "wsp:3000")
            // It really fell behind and caught up from the database, rather than being buffered.
            #expect(server.instance.hub.overflowCount > 0)
        }

        @Test("subscribing and unsubscribing while notifications arrive live loses and repeats nothing; cursors name every topic")
        func topicsChangeWhileLive() async throws {
            let server = try await TestServer.start()
            defer { Task { await server.stop() } }
            for index in 1...3 { _ = try await SSETests.publish(server, "wb", "\(index)") }
            let socket = TestWebSocket.connect(WebSocketTests.url(server, "?topics=wa&after=wa:0"))
            defer { socket.close() }
            #expect(await socket.next(type: "subscribed") != nil)
            var seen = Seen()
            var cursors: [String: String] = [:]
            /// Reads messages until `done` says so, noting the notifications among them.
            func read(until done: ([String: Any]) -> Bool) async {
                while let message = await socket.next(timeout: .seconds(20)) {
                    if message["type"] as? String == "notification", let notification = message["notification"] as? [String: Any],
                        let topic = notification["topic"] as? String, let seq = notification["seq"] as? Int
                    {
                        seen.add(topic: topic, seq: seq)
                        cursors["\(topic):\(seq)"] = message["cursor"] as? String
                    }
                    if done(message) { return }
                }
            }
            /// Reads until `topic` reaches `seq`.
            func read(until topic: String, _ seq: Int) async {
                if seen.seqs[topic]?.last ?? 0 >= seq { return }
                await read { _ in seen.seqs[topic]?.last ?? 0 >= seq }
            }
            /// Publishes `range` to wa one at a time, in the background.
            func publishing(_ range: ClosedRange<Int>) -> Task<Void, any Error> {
                Task { for index in range { _ = try await SSETests.publish(server, "wa", "\(index)") } }
            }
            // Live on wa, delivered from the loop.
            try await publishing(1...100).value
            await read(until: "wa", 100)
            // Add wb from its start while wa's notifications keep arriving.
            let second = publishing(101...200)
            socket.send(#"{"type":"subscribe","topics":["wb"],"after":"wb:0"}"#)
            try await second.value
            await read(until: "wa", 200)
            for index in 4...6 { _ = try await SSETests.publish(server, "wb", "\(index)") }
            await read(until: "wb", 6)
            #expect(cursors["wb:6"] == "wa:200,wb:6")
            // Drop wb while wa's keep arriving: nothing of wb after that (commands are answered
            // in order: once the pong is back, the unsubscribe has taken effect).
            let third = publishing(201...300)
            socket.send(#"{"type":"unsubscribe","topics":["wb"]}"#)
            socket.send(#"{"type":"ping"}"#)
            await read { $0["type"] as? String == "pong" }
            for index in 7...9 { _ = try await SSETests.publish(server, "wb", "\(index)") }
            try await third.value
            await read(until: "wa", 300)
            #expect(seen.isExactly(["wa": 300]), "wa: \(seen.seqs["wa"]?.count ?? 0) of 300, out of order or with gaps")
            #expect(seen.seqs["wb"] == [1, 2, 3, 4, 5, 6], "wb: \(seen.seqs["wb"] ?? [])")
            #expect(cursors["wa:300"] == "wa:300", "after the unsubscribe the cursor names wa alone")
        }
    }
}
