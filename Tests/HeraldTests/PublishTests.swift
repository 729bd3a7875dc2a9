import Foundation
import HeraldCore
import HeraldServer
import NIOHTTP1
import Testing

@Suite("Publish over REST")
struct PublishTests {
    @Test("a JSON publish is answered 201 with Location and the notification, and GET returns it")
    func publishJSON() async throws {
        let server = try await TestServer.start()
        defer { Task { await server.stop() } }
        let answer = try await TestHTTP.postJSON(
            "\(server.baseURL)/v1/topics/orders/notifications",
            #"{"event":"order.created","data":{"id":7,"tags":["a","b"],"note":"é \"q\""}}"#
        )
        #expect(answer.status == 201)
        #expect(answer.header("Location") == "/v1/topics/orders/notifications/1")
        #expect(answer.header("Content-Type") == "application/json")
        let body = answer.json
        #expect(body["topic"] as? String == "orders")
        #expect(body["seq"] as? Int == 1)
        #expect(body["event"] as? String == "order.created")
        #expect((body["id"] as? String).flatMap(UUID.init(uuidString:)) != nil)
        let data = body["data"] as? [String: Any]
        #expect(data?["id"] as? Int == 7)
        #expect(data?["note"] as? String == "é \"q\"")
        let created = body["created_at"] as? String ?? ""
        #expect(created.range(of: #"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$"#, options: .regularExpression) != nil)

        let fetched = try await TestHTTP.get("\(server.baseURL)/v1/topics/orders/notifications/1")
        #expect(fetched.status == 200)
        #expect(fetched.json["id"] as? String == body["id"] as? String)
        #expect(try canonicalJSON(fetched.json["data"] ?? NSNull()) == canonicalJSON(data ?? [:]))
        #expect(fetched.json["created_at"] as? String == created)

        let missing = try await TestHTTP.get("\(server.baseURL)/v1/topics/orders/notifications/2")
        #expect(missing.status == 404)
        #expect(missing.errorCode == "not_found")
        #expect(try await TestHTTP.get("\(server.baseURL)/v1/topics/orders/notifications/abc").status == 404)
    }

    @Test("any JSON value is data and comes back equal", arguments: [
        #"null"#, #"42"#, #"-1.5e3"#, #""text""#, #"[1,[2,[3]],{}]"#, #"true"#, #"{"nested":{"deep":[null,false]}}"#,
        #"{"emoji":"🎉","escaped":"\u00e9\n\t"}"#,
    ])
    func dataRoundTrip(_ data: String) async throws {
        let server = try await TestServer.start()
        defer { Task { await server.stop() } }
        let answer = try await TestHTTP.postJSON("\(server.baseURL)/v1/topics/t/notifications", #"{"data":\#(data)}"#)
        #expect(answer.status == 201)
        let fetched = try await TestHTTP.get("\(server.baseURL)/v1/topics/t/notifications/1")
        let expected = try JSONSerialization.jsonObject(with: Data(data.utf8), options: .fragmentsAllowed)
        let stored = (try JSONSerialization.jsonObject(with: Data(fetched.body)) as? [String: Any])?["data"] ?? NSNull()
        #expect(try canonicalJSON(stored) == canonicalJSON(expected))
        #expect(try canonicalJSON(answer.json["data"] ?? NSNull()) == canonicalJSON(expected))
        #expect(fetched.json["event"] as? String == "message")
    }

    @Test("text/plain, form-encoded and untyped bodies become a JSON string with event message")
    func publishText() async throws {
        let server = try await TestServer.start()
        defer { Task { await server.stop() } }
        let cases: [(String?, String)] = [
            ("text/plain; charset=utf-8", "disk full"),
            ("application/x-www-form-urlencoded", "a=1&b=%20two"),
            (nil, "multi\nline \"quoted\" \\ 日本"),
        ]
        for (index, (type, text)) in cases.enumerated() {
            let answer = try await TestHTTP.request(
                .POST, "\(server.baseURL)/v1/topics/ops/notifications", body: Array(text.utf8),
                headers: type.map { [("Content-Type", $0)] } ?? []
            )
            #expect(answer.status == 201)
            #expect(answer.json["data"] as? String == text)
            #expect(answer.json["event"] as? String == "message")
            let fetched = try await TestHTTP.get("\(server.baseURL)/v1/topics/ops/notifications/\(index + 1)")
            #expect(fetched.json["data"] as? String == text)
        }
    }

    @Test("an Idempotency-Key repeat returns 200 and the original, publishing nothing new")
    func idempotency() async throws {
        let server = try await TestServer.start()
        defer { Task { await server.stop() } }
        let url = "\(server.baseURL)/v1/topics/pay/notifications"
        let first = try await TestHTTP.postJSON(url, #"{"data":{"n":1}}"#, headers: [("Idempotency-Key", "k-1")])
        #expect(first.status == 201)
        let repeatAnswer = try await TestHTTP.postJSON(url, #"{"data":{"n":2}}"#, headers: [("Idempotency-Key", "k-1")])
        #expect(repeatAnswer.status == 200)
        #expect(repeatAnswer.json["id"] as? String == first.json["id"] as? String)
        #expect(repeatAnswer.json["seq"] as? Int == 1)
        #expect((repeatAnswer.json["data"] as? [String: Any])?["n"] as? Int == 1)
        // The same key on another topic is another notification.
        let other = try await TestHTTP.postJSON(
            "\(server.baseURL)/v1/topics/pay2/notifications", #"{"data":3}"#, headers: [("Idempotency-Key", "k-1")]
        )
        #expect(other.status == 201)
        let next = try await TestHTTP.postJSON(url, #"{"data":4}"#, headers: [("Idempotency-Key", "k-2")])
        #expect(next.json["seq"] as? Int == 2)
        #expect(try await TestDatabase(url: server.databaseURL).seqs("pay") == [1, 2])
    }

    @Test("concurrent repeats of one key, on two instances, make exactly one notification")
    func concurrentIdempotency() async throws {
        let first = try await TestServer.start()
        let second = try await TestServer.start(databaseURL: first.databaseURL)
        defer { Task { await first.stop(); await second.stop() } }
        let answers = try await withThrowingTaskGroup(of: TestHTTP.Answer.self) { group in
            for index in 0..<40 {
                let server = index.isMultiple(of: 2) ? first : second
                group.addTask {
                    try await TestHTTP.postJSON(
                        "\(server.baseURL)/v1/topics/once/notifications", #"{"data":\#(index)}"#,
                        headers: [("Idempotency-Key", "the-key")]
                    )
                }
            }
            return try await group.reduce(into: []) { $0.append($1) }
        }
        // One created it; every other repeat returned it, or (on a machine loaded enough
        // that a publish outlived --publish-timeout) was refused with nothing stored.
        #expect(answers.filter { $0.status == 201 }.count == 1)
        let others = answers.filter { $0.status != 201 }
        #expect(others.allSatisfy { $0.status == 200 || ($0.status == 503 && $0.text.contains("nothing was stored")) }, "\(others.map(\.status))")
        #expect(others.filter { $0.status == 200 }.count >= 20, "\(others.map(\.status))")
        #expect(Set(answers.compactMap { $0.json["id"] as? String }).count == 1)
        #expect(try await TestDatabase(url: first.databaseURL).seqs("once") == [1])
    }

    @Test("ttl sets an expiry: the notification is served until then, and not after")
    func ttl() async throws {
        let server = try await TestServer.start()
        defer { Task { await server.stop() } }
        // 8 s: the read right after the publish must come before the expiry on a loaded machine too.
        let answer = try await TestHTTP.postJSON("\(server.baseURL)/v1/topics/short/notifications", #"{"data":1,"ttl":8}"#)
        // The expiry counts from the commit, which is before the answer arrives: under a
        // loaded test run the request itself can take a while, so the clock starts here.
        let published = ContinuousClock.now
        #expect(answer.status == 201)
        #expect(try await TestHTTP.get("\(server.baseURL)/v1/topics/short/notifications/1").status == 200)
        try await Task.sleep(until: published + .milliseconds(8400), clock: .continuous)
        #expect(try await TestHTTP.get("\(server.baseURL)/v1/topics/short/notifications/1").status == 404)
    }

    @Test("a batch is committed atomically and answered in request order")
    func batch() async throws {
        let server = try await TestServer.start()
        defer { Task { await server.stop() } }
        let answer = try await TestHTTP.postJSON(
            "\(server.baseURL)/v1/notifications",
            #"""
            {"notifications":[
              {"topic":"a","event":"x","data":{"i":0},"idempotency_key":"k1"},
              {"topic":"b","data":"one"},
              {"topic":"a","data":{"i":2}},
              {"topic":"a","data":{"i":3},"idempotency_key":"k1"}
            ]}
            """#
        )
        #expect(answer.status == 201)
        let list = answer.json["notifications"] as? [[String: Any]] ?? []
        #expect(list.map { $0["topic"] as? String } == ["a", "b", "a", "a"])
        #expect(list.map { $0["seq"] as? Int } == [1, 1, 2, 1])
        #expect(list[0]["event"] as? String == "x")
        #expect(list[3]["id"] as? String == list[0]["id"] as? String)
        let database = TestDatabase(url: server.databaseURL)
        #expect(try await database.seqs("a") == [1, 2])
        #expect(try await database.seqs("b") == [1])
    }

    @Test("a batch with one bad item is refused as a whole and stores nothing")
    func batchAtomicRefusal() async throws {
        let server = try await TestServer.start()
        defer { Task { await server.stop() } }
        let database = TestDatabase(url: server.databaseURL)
        let before = try await database.fingerprint()
        let answer = try await TestHTTP.postJSON(
            "\(server.baseURL)/v1/notifications",
            #"{"notifications":[{"topic":"a","data":1},{"topic":"bad topic","data":2}]}"#
        )
        #expect(answer.status == 400)
        #expect(answer.errorCode == "invalid_topic")
        #expect((answer.json["error"] as? [String: Any])?["message"] as? String ?? "" != "")
        #expect(try await database.fingerprint() == before)
    }

    @Test("limits: --max-payload gives 413 payload_too_large, --max-batch gives 413 batch_too_large")
    func limits() async throws {
        let server = try await TestServer.start { configuration in
            configuration.server.maximumPayload = 100
            configuration.server.maximumBatch = 3
        }
        defer { Task { await server.stop() } }
        let database = TestDatabase(url: server.databaseURL)
        let before = try await database.fingerprint()
        let big = try await TestHTTP.request(
            .POST, "\(server.baseURL)/v1/topics/t/notifications", body: Array(repeating: UInt8(ascii: "x"), count: 101)
        )
        #expect(big.status == 413)
        #expect(big.errorCode == "payload_too_large")
        let items = (0..<4).map { #"{"topic":"t","data":\#($0)}"# }.joined(separator: ",")
        let batch = try await TestHTTP.postJSON("\(server.baseURL)/v1/notifications", #"{"notifications":[\#(items)]}"#)
        #expect(batch.status == 413)
        #expect(batch.errorCode == "batch_too_large")
        #expect(try await database.fingerprint() == before)
        let fits = try await TestHTTP.request(
            .POST, "\(server.baseURL)/v1/topics/t/notifications", body: Array(repeating: UInt8(ascii: "x"), count: 100)
        )
        #expect(fits.status == 201)
    }
}

/// JSON text with sorted keys, for comparing values as JSON.
func canonicalJSON(_ value: Any) throws -> String {
    String(decoding: try JSONSerialization.data(withJSONObject: [value], options: [.sortedKeys, .fragmentsAllowed]), as: UTF8.self)
}
