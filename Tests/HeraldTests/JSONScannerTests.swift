import Foundation
import HeraldCore
import HeraldPostgres
import Testing

@Suite("Reading publish bodies")
struct JSONScannerTests {
    static func parse(_ text: String, topic: String = "t") throws -> PublishItem {
        let bytes = Array(text.utf8)
        return try bytes.withUnsafeBytes { raw in
            try PublishBodyParser.single(topic: topic, json: raw, idempotencyKey: nil)
        }
    }

    static func kind(_ text: String) -> HeraldError.Kind? {
        do {
            _ = try self.parse(text)
            return nil
        } catch {
            return (error as? HeraldError)?.kind
        }
    }

    @Test("valid JSON values are accepted and kept as sent", arguments: [
        "0", "-0", "1.5", "-1.25e-10", "1E+2", "true", "false", "null", "\"\"", "\"a\\\"b\\\\c\\/\\b\\f\\n\\r\\t\"",
        "\"\\u00e9\\ud83c\\udf89\"", "[]", "{}", "[1,{\"a\":[null]}]", " { \"k\" : [ 1 , 2 ] } ", "\"日本語 🎉\"",
    ])
    func accepts(_ data: String) throws {
        let item = try Self.parse(#"{"data":\#(data)}"#)
        #expect(item.data == data.trimmingCharacters(in: .whitespaces))
        #expect(item.event == "message")
    }

    @Test("invalid JSON is invalid_json", arguments: [
        "", "{", "{\"data\":}", "{\"data\":1,}", "{\"data\":01}", "{\"data\":1.}", "{\"data\":.5}", "{\"data\":+1}",
        "{\"data\":\"\\x\"}", "{\"data\":\"a\nb\"}", "{\"data\":tru}", "{\"data\":[1 2]}", "{data:1}", "{\"data\":1} {}",
        "{\"data\":\"\\u12\"}", "{\"data\":NaN}",
    ])
    func rejectsInvalid(_ body: String) {
        #expect(Self.kind(body) == .invalidJSON, "\(body)")
    }

    @Test("JSON PostgreSQL cannot store is invalid_body", arguments: [
        "\"\\u0000\"", "\"\\ud800\"", "\"\\udc00\"", "\"\\ud800x\"", "\"\\ud800\\u0041\"",
        String(repeating: "[", count: 300) + String(repeating: "]", count: 300),
    ])
    func rejectsUnstorable(_ data: String) {
        #expect(Self.kind(#"{"data":\#(data)}"#) == .invalidBody, "\(data.prefix(40))")
    }

    @Test("numbers outside PostgreSQL's numeric range are invalid_json", arguments: [
        "1e-20000", "1e1000000", "1e131072", "-1e131072", "123e131070", "0e-16384", "1.5e-16383", "0e1073741823", "1e99999999999999999999",
    ])
    func rejectsOutOfRange(_ number: String) {
        #expect(Self.kind(#"{"data":\#(number)}"#) == .invalidJSON, "\(number)")
    }

    @Test("the numbers Herald accepts are exactly those PostgreSQL's jsonb stores, at each edge of its range")
    func numericRangeMatchesPostgreSQL() async throws {
        let fraction = "0." + String(repeating: "0", count: 16_382)
        let numbers = [
            "1e-16383", "1e-16384", "1.5e-16382", "1.5e-16383", "0e-16383", "0e-16384", "0e999999", "0e1073741822",
            "0e1073741823", "1e131071", "1e131072", "9.9e131071", "0.1e131072", "0.01e131073", "123e131069", "123e131070",
            "-1e131071", "-1e131072", fraction + "1", fraction + "12", "1E+131071", "1E+131072", "100e-16385", "100e-16384",
        ]
        let database = TestDatabase(url: try await TestCluster.shared.makeDatabase())
        for number in numbers {
            let accepted = Self.kind(#"{"data":\#(number)}"#) == nil
            let stored = (try? await database.query(PostgresQuery("SELECT $1::jsonb", number))) != nil
            #expect(accepted == stored, "\(number.prefix(40)): Herald \(accepted ? "accepts" : "refuses"), PostgreSQL \(stored ? "stores" : "refuses")")
        }
    }

    @Test("invalid UTF-8 inside JSON is refused")
    func invalidUTF8() {
        let bytes: [UInt8] = Array(#"{"data":""#.utf8) + [0xC3, 0x28] + Array(#""}"#.utf8)
        let error = bytes.withUnsafeBytes { raw -> HeraldError? in
            do {
                _ = try PublishBodyParser.single(topic: "t", json: raw, idempotencyKey: nil)
                return nil
            } catch {
                return error as? HeraldError
            }
        }
        #expect(error?.kind == .invalidJSON)
    }

    @Test("fields: event, ttl and unknown fields")
    func fields() throws {
        let item = try Self.parse(#"{"ignored":{"x":[1]},"event":"a.b:c-d_e","ttl":60,"data":{"x":1}}"#)
        #expect(item.event == "a.b:c-d_e")
        #expect(item.ttl == 60)
        #expect(item.data == #"{"x":1}"#)
        #expect(try Self.parse(#"{"event":null,"data":1,"ttl":null}"#).event == "message")
        #expect(throws: HeraldError.self) { try Self.parse(#"{"data":1,"ttl":1.5}"#) }
        // A whole number however JSON spells it (JSON Schema's integer).
        for spelling in ["3600", "3600.0", "3.6e3", "3.6E+3", "36000e-1", "0.36e4", "3600.000e0"] {
            #expect(try Self.parse(#"{"data":1,"ttl":\#(spelling)}"#).ttl == 3600, "\(spelling)")
        }
        for spelling in ["3.65e3.", "1e-1", "36001e-1", "1e40", "9223372036854775808"] {
            #expect(throws: HeraldError.self, "\(spelling)") { try Self.parse(#"{"data":1,"ttl":\#(spelling)}"#) }
        }
        #expect(throws: HeraldError.self) { try Self.parse(#"{"data":1,"ttl":-1}"#) }
        #expect(throws: HeraldError.self) { try Self.parse(#"{"data":1,"event":""}"#) }
        #expect(throws: HeraldError.self) { try Self.parse(#"{"data":1,"event":"\#(String(repeating: "e", count: 65))"}"#) }
    }

    @Test("text bodies become escaped JSON strings")
    func textBodies() throws {
        let text = "line1\nline2\t\"quoted\" \\ \u{7F} \u{01} é"
        let item = try Array(text.utf8).withUnsafeBytes { bytes in
            try PublishBodyParser.single(topic: "t", text: bytes, idempotencyKey: "k")
        }
        let decoded = try JSONSerialization.jsonObject(with: Data(item.data.utf8), options: .fragmentsAllowed) as? String
        #expect(decoded == text)
        #expect(item.idempotencyKey == "k")
    }
}

@Suite("Names and cursors")
struct NamesAndCursorTests {
    @Test("topic, event and client names follow the wire contract")
    func names() {
        #expect(NameRules.isValidTopic("orders"))
        #expect(NameRules.isValidTopic("a.b_c-d9"))
        #expect(NameRules.isValidTopic(String(repeating: "a", count: 128)))
        #expect(!NameRules.isValidTopic(String(repeating: "a", count: 129)))
        #expect(!NameRules.isValidTopic(""))
        #expect(!NameRules.isValidTopic(".hidden"))
        #expect(!NameRules.isValidTopic("a:b"))
        #expect(!NameRules.isValidTopic("é"))
        #expect(NameRules.isValidEvent("order.created:v2"))
        #expect(!NameRules.isValidEvent("a b"))
        #expect(NameRules.isValidClientID("alice@example.com:1"))
        #expect(!NameRules.isValidClientID("alice bob"))
        #expect(NameRules.isValidIdempotencyKey("!~"))
        #expect(!NameRules.isValidIdempotencyKey("has space"))
    }

    @Test("cursors parse and print as topic:seq pairs")
    func cursors() throws {
        let cursor = try Cursor.parse("orders:42,alerts:7")
        #expect(cursor["orders"] == 42)
        #expect(cursor["alerts"] == 7)
        #expect(cursor.description == "orders:42,alerts:7")
        #expect(try Cursor.parse("42", singleTopic: "orders")["orders"] == 42)
        for bad in ["orders", "orders:", "orders:x", ":5", "orders:-1", "bad topic:1", "a:1,,b:2", "a:99999999999999999999"] {
            #expect(throws: HeraldError.self, "\(bad)") { try Cursor.parse(bad) }
        }
    }
}
