import HeraldCore
import NIOCore

/// The messages Herald sends over WebSocket, as JSON text.
enum WebSocketFrames {
    static func subscribed(topics: [String], cursor: Cursor) -> ByteBuffer {
        var bytes: [UInt8] = Array(#"{"type":"subscribed","topics":["#.utf8)
        for (index, topic) in topics.enumerated() {
            if index > 0 { bytes.append(UInt8(ascii: ",")) }
            JSONString.appendQuoted(topic, to: &bytes)
        }
        bytes.append(contentsOf: #"],"cursor":"#.utf8)
        JSONString.appendQuoted(cursor.description, to: &bytes)
        bytes.append(UInt8(ascii: "}"))
        return ByteBuffer(bytes: bytes)
    }

    /// The frames of a subscription's events, in order.
    static func encode(_ events: [Subscription.Event]) -> [ByteBuffer] {
        events.map { event in
            switch event {
            case .notification(let encoded, let cursor): encoded.webSocketMessage(cursor: cursor)
            case .reset(let reset, let cursor): Self.reset(reset, cursor: cursor)
            }
        }
    }

    static func reset(_ reset: Reset, cursor: String) -> ByteBuffer {
        var bytes: [UInt8] = Array(#"{"type":"reset","topic":""#.utf8)
        bytes.append(contentsOf: reset.topic.utf8)
        bytes.append(contentsOf: #"","requested_after":\#(reset.requestedAfter),"resumed_after":\#(reset.resumedAfter),"#.utf8)
        bytes.append(contentsOf: #""reason":"\#(reset.reason.rawValue)","cursor":"#.utf8)
        JSONString.appendQuoted(cursor, to: &bytes)
        bytes.append(UInt8(ascii: "}"))
        return ByteBuffer(bytes: bytes)
    }

    static func published(ref: String?, notification: Notification) -> ByteBuffer {
        var bytes: [UInt8] = Array(#"{"type":"published","#.utf8)
        if let ref {
            bytes.append(contentsOf: #""ref":"#.utf8)
            JSONString.appendQuoted(ref, to: &bytes)
            bytes.append(UInt8(ascii: ","))
        }
        bytes.append(contentsOf: #""notification":"#.utf8)
        notification.appendJSON(to: &bytes)
        bytes.append(UInt8(ascii: "}"))
        return ByteBuffer(bytes: bytes)
    }

    static func error(_ error: HeraldError, ref: String?) -> ByteBuffer {
        var bytes: [UInt8] = Array(#"{"type":"error","code":""#.utf8)
        bytes.append(contentsOf: error.code.utf8)
        bytes.append(contentsOf: #"","message":"#.utf8)
        JSONString.appendQuoted(error.message, to: &bytes)
        if let ref {
            bytes.append(contentsOf: #","ref":"#.utf8)
            JSONString.appendQuoted(ref, to: &bytes)
        }
        bytes.append(UInt8(ascii: "}"))
        return ByteBuffer(bytes: bytes)
    }

    static let pong = ByteBuffer(string: #"{"type":"pong"}"#)
}
