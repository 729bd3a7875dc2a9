import HeraldPostgres

/// The wire form of a notification:
/// `{"topic":..,"seq":..,"id":..,"event":..,"data":..,"created_at":..}`.
extension Notification {
    /// Appends the notification's JSON object to `bytes`.
    ///
    /// Topic and event names cannot contain characters JSON must escape, and `data` is
    /// already JSON, so this is a copy, not a serialization.
    public func appendJSON(to bytes: inout [UInt8]) {
        bytes.append(contentsOf: #"{"topic":""#.utf8)
        bytes.append(contentsOf: self.topic.utf8)
        bytes.append(contentsOf: #"","seq":"#.utf8)
        bytes.append(contentsOf: String(self.seq).utf8)
        bytes.append(contentsOf: #","id":""#.utf8)
        self.id.appendLowercased(to: &bytes)
        bytes.append(contentsOf: #"","event":""#.utf8)
        bytes.append(contentsOf: self.event.utf8)
        bytes.append(contentsOf: #"","data":"#.utf8)
        bytes.append(contentsOf: self.data.utf8)
        bytes.append(contentsOf: #","created_at":""#.utf8)
        self.createdAt.appendRFC3339(to: &bytes)
        bytes.append(contentsOf: #""}"#.utf8)
    }

    /// The notification's JSON object.
    public var json: [UInt8] {
        var bytes: [UInt8] = []
        bytes.reserveCapacity(160 + self.data.utf8.count)
        self.appendJSON(to: &bytes)
        return bytes
    }
}
