import ArgumentParser
import Foundation
import HeraldCore
import HeraldPostgres

/// `herald publish TOPIC DATA`: publishes one notification.
struct Publish: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Publish one notification.",
        discussion: """
            DATA is taken as JSON when it parses as JSON ('{"a":1}', 42, '"text"'), otherwise as \
            a string (disk full); --text always sends a string. It goes through the same checks \
            and the same SQL as the server's publish and is delivered live by running servers. \
            Prints the notification. Works on the database directly, with no server running.
            """
    )

    @OptionGroup var database: DatabaseOptions
    @OptionGroup var output: OutputOptions

    @Argument(help: ArgumentHelp("The topic.", valueName: "topic"))
    var topic: String

    @Argument(help: ArgumentHelp("The data: JSON, or text.", valueName: "data"))
    var data: String

    @Option(help: ArgumentHelp("The event name. (default: message)", valueName: "event"))
    var event: String?

    @Option(help: ArgumentHelp("How long it is delivered: 90s, 15m, 24h, 7d (or seconds). (default: until retention drops it)", valueName: "duration"))
    var ttl: String?

    @Option(name: .customLong("idempotency-key"), help: ArgumentHelp("Publish only once per key (while the first is retained).", valueName: "key"))
    var idempotencyKey: String?

    @Flag(help: "Send DATA as a string even when it parses as JSON.")
    var text = false

    @Option(
        name: .customLong("max-payload"),
        help: ArgumentHelp("Largest DATA in bytes, as the server's option. (env: HERALD_MAX_PAYLOAD, default: 65536)", valueName: "bytes")
    )
    var maxPayload: Int?

    static let ttlSetting = Setting.duration("ttl", .seconds(1)...(.seconds(Int64(Int32.max))), default: .seconds(1))

    func validate() throws {
        guard NameRules.isValidTopic(self.topic) else { throw ValidationError("TOPIC must match \(NameRules.topicPattern)") }
        if let event, !NameRules.isValidEvent(event) { throw ValidationError("--event must match \(NameRules.eventPattern)") }
        if let idempotencyKey, !NameRules.isValidIdempotencyKey(idempotencyKey) {
            throw ValidationError("--idempotency-key is 1 to 128 visible ASCII characters")
        }
        try Self.ttlSetting.validate(text: self.ttl)
        if let ttl, let duration = DurationParser.parse(ttl), duration.components.attoseconds != 0 {
            throw ValidationError("--ttl is whole seconds (the server's ttl is), got \(ttl)")
        }
        try ServeSettings.maxPayload.validate(self.maxPayload)
        let item = try self.item()
        let limit = try ServeSettings.maxPayload.resolve(self.maxPayload)
        guard item.data.utf8.count <= limit else {
            throw ValidationError("DATA is \(item.data.utf8.count) bytes as JSON, over --max-payload (\(limit))")
        }
    }

    /// The item, checked as the server checks a JSON publish body.
    func item() throws -> PublishItem {
        var fields: [UInt8] = []
        if let event { fields.append(contentsOf: #","event":"\#(event)""#.utf8) }
        if let ttl, let duration = DurationParser.parse(ttl) { fields.append(contentsOf: #","ttl":\#(duration.components.seconds)"#.utf8) }
        // JSON when DATA alone is one JSON value (not, say, `1,"event":"x"`, which would
        // parse inside the body).
        if !self.text, let item = try? Self.parse(topic: self.topic, data: Array(self.data.utf8), fields: fields, key: self.idempotencyKey),
            item.data == self.data.trimmingCharacters(in: .whitespacesAndNewlines)
        {
            return item
        }
        var quoted: [UInt8] = []
        JSONString.appendQuoted(self.data, to: &quoted)
        do {
            return try Self.parse(topic: self.topic, data: quoted, fields: fields, key: self.idempotencyKey)
        } catch {
            throw ValidationError("DATA cannot be published: \(error.message)")
        }
    }

    private static func parse(topic: String, data: [UInt8], fields: [UInt8], key: String?) throws(HeraldError) -> PublishItem {
        let body = Array(#"{"data":"#.utf8) + data + fields + [UInt8(ascii: "}")]
        let parsed = body.withUnsafeBytes { bytes in
            Result { () throws(HeraldError) in try PublishBodyParser.single(topic: topic, json: bytes, idempotencyKey: key) }
        }
        return try parsed.get()
    }

    func run() async throws {
        let item = try self.item()
        let result = try await AdminSession.run(self.database) { session in
            try await Publisher.publishDirectly([item], pool: session.pool)[0]
        }
        if self.output.json {
            self.output.printJSON(result.notification.json)
            return
        }
        let notification = result.notification
        if result.replayed {
            print("Already published with that key: \(notification.topic):\(notification.seq) (id \(notification.id.uuidString.lowercased())).")
        } else {
            print("Published \(notification.topic):\(notification.seq) (id \(notification.id.uuidString.lowercased()), event \(notification.event), at \(notification.createdAt.rfc3339)).")
        }
    }
}
