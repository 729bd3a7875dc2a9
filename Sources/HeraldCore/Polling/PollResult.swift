/// The answer to a poll: notifications, the cursor to send back, and any resets.
public struct PollResult: Sendable {
    /// The notifications, in seq order per topic.
    public var notifications: [Notification]
    /// Where the subscriber stands after them, every requested topic included.
    public var cursor: Cursor
    /// Resets that happened before the notifications of their topic.
    public var resets: [Reset]

    /// `{"notifications":[...],"cursor":"...","resets":[...]}`
    public var json: [UInt8] {
        var bytes: [UInt8] = []
        bytes.reserveCapacity(64 + self.notifications.reduce(0) { $0 + 160 + $1.data.utf8.count })
        bytes.append(contentsOf: #"{"notifications":["#.utf8)
        for (index, notification) in self.notifications.enumerated() {
            if index > 0 { bytes.append(UInt8(ascii: ",")) }
            notification.appendJSON(to: &bytes)
        }
        bytes.append(contentsOf: #"],"cursor":"#.utf8)
        JSONString.appendQuoted(self.cursor.description, to: &bytes)
        bytes.append(contentsOf: #","resets":["#.utf8)
        for (index, reset) in self.resets.enumerated() {
            if index > 0 { bytes.append(UInt8(ascii: ",")) }
            reset.appendJSON(to: &bytes)
        }
        bytes.append(contentsOf: "]}".utf8)
        return bytes
    }
}
