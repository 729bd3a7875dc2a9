/// Turns publish request bodies into validated `PublishItem`s.
///
/// The wire contract's bodies: one notification as JSON (`{"event":..,"data":..,"ttl":..}`)
/// or as text, and a batch (`{"notifications":[{"topic":..,"data":..,...}, ...]}`).
/// Fields it does not know are ignored. The whole body is read first, so a syntax error
/// is reported as `invalid_json` before any field's error; then each field is checked,
/// and the first problem is reported with the code for that field. Every check happens
/// here, before an item can join a group-commit batch.
public enum PublishBodyParser {
    /// Parses a JSON body for one notification on `topic`.
    public static func single(
        topic: String,
        json body: UnsafeRawBufferPointer,
        idempotencyKey: String?
    ) throws(HeraldError) -> PublishItem {
        guard NameRules.isValidTopic(topic) else { throw .invalidTopic(topic) }
        let fields = try Self.scan(body) { scanner in try Self.readFields(&scanner, body: body) }
        try Self.checkHeaderKey(idempotencyKey)
        var item = try fields.item(topic: topic)
        item.idempotencyKey = idempotencyKey
        return item
    }

    /// Takes a text body as the data of one notification on `topic` (a JSON string).
    public static func single(
        topic: String,
        text body: UnsafeRawBufferPointer,
        idempotencyKey: String?
    ) throws(HeraldError) -> PublishItem {
        guard NameRules.isValidTopic(topic) else { throw .invalidTopic(topic) }
        guard UTF8Check.isValidWithoutNUL(body) else {
            throw HeraldError(.invalidBody, "a text body must be UTF-8 without NUL characters")
        }
        try Self.checkHeaderKey(idempotencyKey)
        return PublishItem(
            checkedTopic: topic,
            event: "message",
            data: JSONString.quoted(body),
            ttl: nil,
            idempotencyKey: idempotencyKey
        )
    }

    /// Parses a batch body of at most `maximumItems` notifications, each with at most
    /// `maximumData` bytes of data.
    public static func batch(json body: UnsafeRawBufferPointer, maximumItems: Int, maximumData: Int) throws(HeraldError) -> [PublishItem] {
        let list: [Fields]? = try Self.scan(body) { scanner in
            guard scanner.peek() == UInt8(ascii: "{") else {
                try scanner.skipValue()
                return nil
            }
            var list: [Fields]? = nil
            try scanner.readObject { scanner, key in
                guard key == "notifications", scanner.peek() == UInt8(ascii: "[") else {
                    try scanner.skipValue()
                    return
                }
                var items: [Fields] = []
                try scanner.readArray { scanner in
                    items.append(try Self.readFields(&scanner, body: body))
                }
                list = items
            }
            return list
        }
        guard let list else { throw HeraldError(.invalidBody, #"the body must be {"notifications":[...]}"#) }
        guard !list.isEmpty else { throw HeraldError(.invalidBody, "notifications must not be empty") }
        guard list.count <= maximumItems else {
            HeraldMetrics.refused(.batchSize)
            throw HeraldError(.batchTooLarge, "a batch holds at most \(maximumItems) notifications, got \(list.count)")
        }
        var items: [PublishItem] = []
        items.reserveCapacity(list.count)
        for (index, fields) in list.enumerated() {
            do throws(HeraldError) {
                guard let topic = fields.topic else { throw HeraldError(.invalidTopic, "a topic is required") }
                var item = try fields.item(topic: topic, maximumData: maximumData)
                if fields.keyIsInvalid { throw HeraldError(.invalidBody, "idempotency_key must be a string") }
                if let key = fields.idempotencyKey {
                    guard NameRules.isValidIdempotencyKey(key) else {
                        throw HeraldError(.invalidBody, "idempotency_key must be 1 to 128 visible ASCII characters")
                    }
                    item.idempotencyKey = key
                }
                items.append(item)
            } catch {
                throw HeraldError(error.kind, "notifications[\(index)]: \(error.message)")
            }
        }
        return items
    }

    // MARK: - Reading

    /// The fields of one notification object as they were sent; a field of the wrong JSON
    /// type is kept as invalid and reported when the item is checked.
    public struct Fields: Sendable {
        /// Creates empty fields.
        public init() {}

        public var topic: String?
        var topicIsInvalid = false
        var event: String?
        var eventIsInvalid = false
        var data: String?
        var ttl: Int64?
        var ttlIsInvalid = false
        public var idempotencyKey: String?
        public var keyIsInvalid = false
        var isObject = true

        /// Reads the value of a notification field (`topic`, `event`, `data`, `ttl`,
        /// `idempotency_key`); any other key's value is skipped.
        public mutating func read(_ key: String, from scanner: inout JSONScanner, body: UnsafeRawBufferPointer) throws {
            switch key {
            case "topic":
                if scanner.peek() == UInt8(ascii: "\"") {
                    self.topic = try scanner.readString()
                } else {
                    try scanner.skipValue()
                    self.topicIsInvalid = true
                    self.topic = ""
                }
            case "event":
                if scanner.peek() == UInt8(ascii: "\"") {
                    self.event = try scanner.readString()
                } else if try !scanner.readNull() {
                    try scanner.skipValue()
                    self.eventIsInvalid = true
                }
            case "data":
                let range = try scanner.skipValue()
                self.data = String(decoding: UnsafeRawBufferPointer(rebasing: body[range]), as: UTF8.self)
            case "ttl":
                if try scanner.readNull() { return }
                let start = scanner.offset
                do {
                    self.ttl = try scanner.readInteger()
                } catch {
                    // Not an integer: skip whatever value it is, if it is one.
                    scanner = JSONScanner(body, at: start)
                    try scanner.skipValue()
                    self.ttlIsInvalid = true
                }
            case "idempotency_key":
                if scanner.peek() == UInt8(ascii: "\"") {
                    self.idempotencyKey = try scanner.readString()
                } else if try !scanner.readNull() {
                    try scanner.skipValue()
                    self.keyIsInvalid = true
                }
            default:
                try scanner.skipValue()
            }
        }

        /// The checked item these fields describe, on `topic`, with at most `maximumData`
        /// bytes of data.
        public func item(topic: String, maximumData: Int = .max) throws(HeraldError) -> PublishItem {
            guard self.isObject else { throw HeraldError(.invalidBody, #"a notification must be a JSON object such as {"data":...}"#) }
            guard !self.topicIsInvalid, NameRules.isValidTopic(topic) else { throw .invalidTopic(topic) }
            if self.eventIsInvalid { throw HeraldError(.invalidEvent, "event must be a string matching \(NameRules.eventPattern)") }
            let event = self.event ?? "message"
            guard NameRules.isValidEvent(event) else { throw .invalidEvent(event) }
            guard let data = self.data else { throw HeraldError(.missingData, "a notification needs a data field") }
            guard data.utf8.count <= maximumData else {
                HeraldMetrics.refused(.payloadSize)
                throw HeraldError(.payloadTooLarge, "data is larger than \(maximumData) bytes")
            }
            if self.ttlIsInvalid { throw HeraldError(.invalidBody, "ttl must be a whole number of seconds") }
            if let ttl = self.ttl, !(1...Int64(Int32.max)).contains(ttl) {
                throw HeraldError(.invalidBody, "ttl must be a whole number of seconds from 1 to \(Int32.max)")
            }
            return PublishItem(checkedTopic: topic, event: event, data: data, ttl: self.ttl.map { Int32($0) }, idempotencyKey: nil)
        }
    }

    static func readFields(_ scanner: inout JSONScanner, body: UnsafeRawBufferPointer) throws -> Fields {
        var fields = Fields()
        guard scanner.peek() == UInt8(ascii: "{") else {
            try scanner.skipValue()
            fields.isObject = false
            return fields
        }
        try scanner.readObject { scanner, key in try fields.read(key, from: &scanner, body: body) }
        return fields
    }

    /// Runs `read` over the whole body and maps scanner failures to Herald errors.
    static func scan<T>(_ body: UnsafeRawBufferPointer, _ read: (inout JSONScanner) throws -> T) throws(HeraldError) -> T {
        var scanner = JSONScanner(body)
        do {
            guard scanner.peek() != nil else { throw HeraldError(.invalidJSON, "the body is empty") }
            let value = try read(&scanner)
            guard scanner.isAtEnd() else {
                throw HeraldError(.invalidJSON, "unexpected text after the JSON value at byte \(scanner.offset)")
            }
            return value
        } catch let error as HeraldError {
            throw error
        } catch let failure as JSONScanner.Failure {
            throw HeraldError(failure.isUnstorable ? .invalidBody : .invalidJSON, failure.message)
        } catch {
            throw HeraldError(.invalidJSON, "\(error)")
        }
    }

    static func checkHeaderKey(_ key: String?) throws(HeraldError) {
        if let key, !NameRules.isValidIdempotencyKey(key) {
            throw HeraldError(.invalidParameter, "Idempotency-Key must be 1 to 128 visible ASCII characters")
        }
    }
}
