import HeraldCore

/// A message a WebSocket client sends (one JSON object per text frame).
enum WebSocketCommand: Sendable {
    case subscribe(topics: [String], after: Cursor)
    case unsubscribe(topics: [String])
    case ack(Cursor)
    case publish(ref: String?, item: PublishItem)
    case ping
    /// A frame that could not be understood; answered with an `error`, the connection stays.
    case invalid(HeraldError, ref: String?)

    /// Parses a text frame; a publish's data may have at most `maximumData` bytes.
    static func parse(_ text: String, maximumData: Int) -> WebSocketCommand {
        let bytes = Array(text.utf8)
        return bytes.withUnsafeBytes { raw in
            var fields = Fields()
            do {
                var scanner = JSONScanner(raw)
                guard scanner.peek() == UInt8(ascii: "{") else {
                    try scanner.skipValue()
                    return .invalid(HeraldError(.invalidBody, "a message must be a JSON object with a type"), ref: nil)
                }
                try scanner.readObject { scanner, key in try fields.read(key, from: &scanner, body: raw) }
                guard scanner.isAtEnd() else { return .invalid(HeraldError(.invalidJSON, "unexpected text after the message"), ref: nil) }
            } catch let error as JSONScanner.Failure {
                return .invalid(HeraldError(error.isUnstorable ? .invalidBody : .invalidJSON, error.message), ref: fields.ref)
            } catch let error as HeraldError {
                return .invalid(error, ref: fields.ref)
            } catch {
                return .invalid(HeraldError(.invalidJSON, "\(error)"), ref: fields.ref)
            }
            do {
                return try fields.command(maximumData: maximumData)
            } catch let error as HeraldError {
                return .invalid(error, ref: fields.ref)
            } catch {
                return .invalid(HeraldError(.invalidBody, "\(error)"), ref: fields.ref)
            }
        }
    }

    /// The fields of a message, as sent.
    private struct Fields {
        var type: String?
        var ref: String?
        var topics: [String]?
        var topicsAreInvalid = false
        var after: String?
        var cursor: String?
        var publish = PublishBodyParser.Fields()

        mutating func read(_ key: String, from scanner: inout JSONScanner, body: UnsafeRawBufferPointer) throws {
            switch key {
            case "type": self.type = try Self.string(&scanner)
            case "ref": self.ref = try Self.string(&scanner)
            case "after": self.after = try Self.string(&scanner)
            case "cursor": self.cursor = try Self.string(&scanner)
            case "topics":
                guard scanner.peek() == UInt8(ascii: "[") else {
                    try scanner.skipValue()
                    self.topicsAreInvalid = true
                    return
                }
                var topics: [String] = []
                var invalid = false
                try scanner.readArray { scanner in
                    if let topic = try Self.string(&scanner) { topics.append(topic) } else { invalid = true }
                }
                self.topics = topics
                self.topicsAreInvalid = invalid
            default:
                try self.publish.read(key, from: &scanner, body: body)
            }
        }

        /// A string value, or nil (after skipping) for any other value.
        static func string(_ scanner: inout JSONScanner) throws -> String? {
            if scanner.peek() == UInt8(ascii: "\"") { return try scanner.readString() }
            try scanner.skipValue()
            return nil
        }

        func command(maximumData: Int) throws -> WebSocketCommand {
            switch self.type {
            case "subscribe":
                let topics = try self.checkedTopics()
                let after = try self.after.map { text throws -> Cursor in
                    try Cursor.parse(text, singleTopic: topics.count == 1 ? topics[0] : nil)
                } ?? Cursor()
                for position in after.positions where !topics.contains(position.topic) {
                    throw HeraldError(.invalidCursor, "after names '\(position.topic)', which is not among the topics")
                }
                return .subscribe(topics: topics, after: after)
            case "unsubscribe":
                return .unsubscribe(topics: try self.checkedTopics())
            case "ack":
                guard let cursor = self.cursor else { throw HeraldError(.invalidCursor, "ack needs a cursor") }
                return .ack(try Cursor.parse(cursor))
            case "publish":
                var item = try self.publish.item(topic: self.publish.topic ?? "", maximumData: maximumData)
                if self.publish.keyIsInvalid { throw HeraldError(.invalidBody, "idempotency_key must be a string") }
                if let key = self.publish.idempotencyKey {
                    guard NameRules.isValidIdempotencyKey(key) else {
                        throw HeraldError(.invalidBody, "idempotency_key must be 1 to 128 visible ASCII characters")
                    }
                    item.idempotencyKey = key
                }
                return .publish(ref: self.ref, item: item)
            case "ping":
                return .ping
            case nil:
                throw HeraldError(.invalidBody, "a message needs a type: subscribe, unsubscribe, ack, publish or ping")
            case let other?:
                throw HeraldError(.invalidBody, "unknown message type '\(other.prefix(40))'")
            }
        }

        func checkedTopics() throws -> [String] {
            guard let topics = self.topics, !self.topicsAreInvalid else {
                throw HeraldError(.invalidTopic, "topics must be an array of topic names")
            }
            try PollRequest.validate(topics: topics)
            return topics
        }
    }
}
