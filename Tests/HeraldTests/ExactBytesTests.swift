import Foundation
import HeraldCore
import Testing

@Suite("Exact bytes: data is delivered as its producer sent it")
struct ExactBytesTests {
    /// The issue's example: key order, spacing and number spelling that jsonb would change.
    static let spelled = #"{"b":1, "a":[1.0,2e3]}"#
    /// Line breaks (JSON whitespace) too, LF and CRLF.
    static let broken = "{\"b\":\n 1,\r\n \"a\" : [ 2E-3 , -0.0 ]}"

    /// The raw `data` values of the notifications in a JSON text, in order: what follows
    /// each `,"data":` up to its notification's `,"created_at":"` (the wire form's order).
    static func rawData(in text: String) -> [String] {
        var found: [String] = []
        var rest = text[...]
        while let start = rest.range(of: #","data":"#), let end = rest[start.upperBound...].range(of: #","created_at":""#) {
            found.append(String(rest[start.upperBound..<end.lowerBound]))
            rest = rest[end.upperBound...]
        }
        return found
    }

    /// What an SSE client reads for `data`: SSE joins its lines with LF.
    static func overSSE(_ data: String) -> String {
        data.replacingOccurrences(of: "\r\n", with: "\n").replacingOccurrences(of: "\r", with: "\n")
    }

    @Test(
        "data keeps its bytes on every path: the publish answers (REST, idempotent repeat, batch, WebSocket), GET one, poll, long-poll, SSE and WebSocket live and catching up; line breaks split SSE data lines"
    )
    func everyTransport() async throws {
        let server = try await TestServer.start()
        defer { Task { await server.stop() } }
        let base = server.baseURL
        let topic = "exact"
        let liveSSE = try await SSEClient.open("\(base)/v1/sse?topics=\(topic)&after=\(topic):0")
        defer { liveSSE.close() }
        let ws = base.replacingOccurrences(of: "http://", with: "ws://")
        let liveWS = TestWebSocket.connect("\(ws)/v1/ws?topics=\(topic)&after=\(topic):0")
        defer { liveWS.close() }
        #expect(await liveWS.next(type: "subscribed") != nil)
        async let longPoll = TestHTTP.get("\(base)/v1/poll?topics=\(topic)&after=\(topic):0&wait=10")

        // Published four ways; each answer carries the bytes sent.
        let url = "\(base)/v1/topics/\(topic)/notifications"
        let first = try await TestHTTP.postJSON(url, #"{"data":\#(Self.spelled)}"#)
        #expect(first.status == 201, "\(first.text)")
        #expect(Self.rawData(in: first.text) == [Self.spelled])
        let keyed = try await TestHTTP.postJSON(url, "{\"data\":\(Self.broken)}", headers: [("Idempotency-Key", "k1")])
        #expect(keyed.status == 201, "\(keyed.text)")
        #expect(Self.rawData(in: keyed.text) == [Self.broken])
        let repeated = try await TestHTTP.postJSON(url, "{\"data\":\(Self.broken)}", headers: [("Idempotency-Key", "k1")])
        #expect(repeated.status == 200, "\(repeated.text)")
        #expect(Self.rawData(in: repeated.text) == [Self.broken], "the repeat's original")
        let batch = try await TestHTTP.postJSON("\(base)/v1/notifications", #"{"notifications":[{"topic":"\#(topic)","data":\#(Self.spelled)}]}"#)
        #expect(batch.status == 201, "\(batch.text)")
        #expect(Self.rawData(in: batch.text) == [Self.spelled])
        liveWS.send(#"{"type":"publish","ref":"r1","topic":"\#(topic)","data":\#(Self.spelled)}"#)
        var published: String?
        var wsLive: [String] = []  // notification frames that came before the answer
        while published == nil, let frame = await liveWS.messages.take(timeout: .seconds(10)) {
            if frame.hasPrefix(#"{"type":"published""#) { published = frame }
            if frame.hasPrefix(#"{"type":"notification""#) { wsLive.append(contentsOf: Self.rawData(in: frame)) }
        }
        #expect(published.map(Self.rawData) == [Self.spelled], "\(published ?? "no published frame")")
        let sent = [Self.spelled, Self.broken, Self.spelled, Self.spelled]

        // Read back every way.
        let one = try await TestHTTP.get("\(url)/2")
        #expect(Self.rawData(in: one.text) == [Self.broken])
        let poll = try await TestHTTP.get("\(base)/v1/poll?topics=\(topic)&after=\(topic):0")
        #expect(Self.rawData(in: poll.text) == sent)
        #expect(Self.rawData(in: try await longPoll.text).first == Self.spelled)
        var live: [String] = []
        while live.count < 4, let event = await liveSSE.next() { live.append(contentsOf: Self.rawData(in: event.data)) }
        #expect(live == sent.map(Self.overSSE))
        let catchUp = try await SSEClient.open("\(base)/v1/sse?topics=\(topic)&after=\(topic):0")
        defer { catchUp.close() }
        var caught: [String] = []
        while caught.count < 4, let event = await catchUp.next() { caught.append(contentsOf: Self.rawData(in: event.data)) }
        #expect(caught == sent.map(Self.overSSE))
        // The WebSocket subscriber had the four live, in notification frames.
        while wsLive.count < 4, let frame = await liveWS.messages.take(timeout: .seconds(10)) {
            if frame.hasPrefix(#"{"type":"notification""#) { wsLive.append(contentsOf: Self.rawData(in: frame)) }
        }
        #expect(wsLive == sent)
        let wsCatchUp = TestWebSocket.connect("\(ws)/v1/ws?topics=\(topic)&after=\(topic):0")
        defer { wsCatchUp.close() }
        var replayed: [String] = []
        while replayed.count < 4, let frame = await wsCatchUp.messages.take(timeout: .seconds(10)) {
            if frame.hasPrefix(#"{"type":"notification""#) { replayed.append(contentsOf: Self.rawData(in: frame)) }
        }
        #expect(replayed == sent)
    }
}
