import Foundation
@testable import HeraldCore
import HeraldPostgres
@testable import HeraldServer
import NIOCore
import Testing

@Suite("SSE: the bytes shared by every subscriber of a topic alone")
struct SSEFastPathTests {
    static func encoded(_ topic: String, _ seq: Int64, expiresAt: PostgresTimestamp? = nil) -> EncodedNotification {
        EncodedNotification(
            Notification(
                topic: topic, seq: seq, id: UUID(), event: "message", data: #"{"n":"é \"q\""}"#,
                createdAt: .now, expiresAt: expiresAt
            ),
            forLiveDelivery: true
        )
    }

    @Test("the shared chunk is byte for byte what the per-subscriber encoding writes for that subscriber")
    func sharedChunkMatchesEncoding() throws {
        let next = Self.encoded("orders", 8)
        var positions = Positions()
        positions.set("orders", 7)
        var events: [Subscription.Event] = []
        positions.accept(next, now: .now, into: &events)
        let general = SSEEncoding.encode(events)
        let shared = try #require(next.sseSingleTopicChunk)
        #expect(String(buffer: shared) == String(buffer: general))
        #expect(String(buffer: shared).contains("id: orders:8\nevent: message\ndata: {"))
    }

    @Test("only the very next, unexpired notification of a subscriber's only topic takes the shared path")
    func acceptAlone() {
        var positions = Positions()
        positions.set("a", 4)
        let accepted = positions.acceptAlone(Self.encoded("a", 5), now: .now)
        #expect(accepted)
        #expect(positions["a"] == 5)
        let repeated = positions.acceptAlone(Self.encoded("a", 5), now: .now)
        #expect(!repeated, "a repeat")
        let gap = positions.acceptAlone(Self.encoded("a", 7), now: .now)
        #expect(!gap, "a gap needs a reset first")
        let past = PostgresTimestamp(microsecondsSinceEpoch: PostgresTimestamp.now.microsecondsSinceEpoch - 1_000_000)
        let expired = positions.acceptAlone(Self.encoded("a", 6, expiresAt: past), now: .now)
        #expect(!expired, "expired")
        #expect(positions["a"] == 5, "a refusal changes nothing")

        var two = Positions()
        two.set("a", 0)
        two.set("b", 0)
        let shared = two.acceptAlone(Self.encoded("a", 1), now: .now)
        #expect(!shared, "the id of a two-topic subscriber names both")
    }
}

@Suite("WebSocket: the message shared by every subscriber of a topic alone")
struct WebSocketFastPathTests {
    @Test("the shared frame holds byte for byte what the per-subscriber encoding writes for that subscriber")
    func sharedMessageMatchesEncoding() throws {
        let next = SSEFastPathTests.encoded("orders", 8)
        var positions = Positions()
        positions.set("orders", 7)
        var events: [Subscription.Event] = []
        positions.accept(next, now: .now, into: &events)
        let general = WebSocketFrames.encode(events)
        let frame = try #require(next.webSocketSingleTopicFrame)
        // A whole unmasked text frame: FIN and opcode 1, then the payload's length.
        let header = Array(frame.readableBytesView.prefix(2))
        #expect(header[0] == 0x81)
        let shared = try #require(WebSocketTextFrame.payload(of: frame))
        #expect(Int(header[1]) == (shared.readableBytes < 126 ? shared.readableBytes : 126))
        #expect(general.count == 1)
        #expect(String(buffer: shared) == String(buffer: general[0]))
        let message = try JSONSerialization.jsonObject(with: Data(String(buffer: shared).utf8)) as? [String: Any]
        #expect(message?["type"] as? String == "notification")
        #expect(message?["cursor"] as? String == "orders:8")
        #expect((message?["notification"] as? [String: Any])?["seq"] as? Int == 8)
    }
}
