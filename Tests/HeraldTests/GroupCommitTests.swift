import Foundation
import HeraldCore
import HeraldPostgres
import HeraldServer
import Testing

@Suite("Group commit: concurrent publishes")
struct GroupCommitTests {
    @Test("8 publishers × 500 over 4 topics: every topic holds exactly 1..N and every returned seq is stored")
    func concurrentPublishers() async throws {
        let server = try await TestServer.start()
        defer { Task { await server.stop() } }
        let topics = ["g0", "g1", "g2", "g3"]
        let returned = try await withThrowingTaskGroup(of: [(String, Int, String)].self) { group in
            for publisher in 0..<8 {
                group.addTask {
                    var mine: [(String, Int, String)] = []
                    for index in 0..<500 {
                        let topic = topics[(publisher + index) % topics.count]
                        let answer = try await TestHTTP.postJSON(
                            "\(server.baseURL)/v1/topics/\(topic)/notifications", #"{"data":{"p":\#(publisher),"i":\#(index)}}"#
                        )
                        guard answer.status == 201, let seq = answer.json["seq"] as? Int, let id = answer.json["id"] as? String else {
                            throw TestFailure("publish failed: \(answer.status) \(answer.text)")
                        }
                        mine.append((topic, seq, id))
                    }
                    return mine
                }
            }
            return try await group.reduce(into: []) { $0 += $1 }
        }
        #expect(returned.count == 4000)
        let database = TestDatabase(url: server.databaseURL)
        var total = 0
        for topic in topics {
            let stored = try await database.seqs(topic)
            #expect(stored == Array(1..<Int64(stored.count) + 1), "topic \(topic) has gaps or repeats")
            let answered = returned.filter { $0.0 == topic }.map { Int64($0.1) }.sorted()
            #expect(answered == stored, "topic \(topic): the seqs answered are not the seqs stored")
            total += stored.count
        }
        #expect(total == 4000)
        // Every answered id is the stored notification with that seq.
        let rows = try await database.query("SELECT topic, seq, id FROM herald.notifications")
        var stored: [String: String] = [:]
        for row in rows {
            stored["\(try row.decode(String.self, at: 0)):\(try row.decode(Int.self, at: 1))"] = try row.decode(UUID.self, at: 2).uuidString.lowercased()
        }
        #expect(returned.allSatisfy { stored["\($0.0):\($0.1)"] == $0.2 })
        // Concurrent publishes really shared transactions.
        let transactions = try await database.query("SELECT count(DISTINCT created_at) FROM herald.notifications")
        #expect(try transactions[0].decode(Int.self, at: 0) < 4000)
    }

    @Test("publishing straight through the Publisher: a batch request is never split across transactions")
    func batchesStayWhole() async throws {
        let server = try await TestServer.start()
        defer { Task { await server.stop() } }
        let publisher = server.instance.publisher
        let results = try await withThrowingTaskGroup(of: [PublishResult].self) { group in
            for request in 0..<20 {
                group.addTask {
                    let items = try (0..<50).map { _ in
                        try PublishBodyParser.single(topic: "whole", text: UnsafeRawBufferPointer(start: nil, count: 0), idempotencyKey: nil)
                    }
                    _ = request
                    return try await publisher.publish(items)
                }
            }
            return try await group.reduce(into: []) { $0.append($1) }
        }
        for result in results {
            // One request's items are consecutive seqs committed at one instant.
            let seqs = result.map(\.notification.seq)
            #expect(seqs == Array(seqs[0]..<seqs[0] + 50))
            #expect(Set(result.map(\.notification.createdAt)).count == 1)
        }
    }

    @Test("batches without idempotency keys (herald.publish_plain) are answered exactly as stored, in request order")
    func plainBatchesAnsweredAsStored() async throws {
        let server = try await TestServer.start()
        defer { Task { await server.stop() } }
        let publisher = server.instance.publisher
        // "p1" has history already: its seqs go on from there.
        _ = try await publisher.publish(try Self.items([#"{"topic":"p1","data":0}"#, #"{"topic":"p1","data":0}"#]))
        let answered = try await withThrowingTaskGroup(of: [PublishResult].self) { group in
            for request in 0..<8 {
                group.addTask {
                    let items = (0..<30).map { index in
                        let topic = ["p1", "p2", "p3-\(request % 2)"][(request + index) % 3]
                        let ttl = index % 4 == 0 ? #","ttl":\#(60 + index)"# : ""
                        return #"{"topic":"\#(topic)","event":"e\#(index)","data":{"r":\#(request), "i":[\#(index)]}\#(ttl)}"#
                    }
                    return try await publisher.publish(try Self.items(items))
                }
            }
            return try await group.reduce(into: []) { $0.append($1) }
        }
        let rows = try await TestDatabase(url: server.databaseURL).query(
            "SELECT topic, seq, id, event, data::text, created_at, expires_at FROM herald.notifications"
        )
        var stored: [UUID: HeraldCore.Notification] = [:]
        for row in rows {
            let notification = HeraldCore.Notification(
                topic: try row.decode(String.self, at: 0), seq: try row.decode(Int64.self, at: 1), id: try row.decode(UUID.self, at: 2),
                event: try row.decode(String.self, at: 3), data: try row.decode(String.self, at: 4),
                createdAt: try row.decode(PostgresTimestamp.self, at: 5), expiresAt: try row.decode(PostgresTimestamp?.self, at: 6)
            )
            stored[notification.id] = notification
        }
        #expect(stored.count == 2 + 8 * 30)
        for results in answered {
            #expect(results.count == 30)
            for (index, result) in results.enumerated() {
                #expect(!result.replayed)
                #expect(stored[result.notification.id] == result.notification)
                #expect(result.notification.event == "e\(index)")
                #expect((result.notification.expiresAt != nil) == (index % 4 == 0))
                if let expires = result.notification.expiresAt {
                    #expect(expires.microsecondsSinceEpoch - result.notification.createdAt.microsecondsSinceEpoch == Int64(60 + index) * 1_000_000)
                }
            }
            // A request's items of one topic have consecutive seqs, in the order it sent them.
            for topic in Set(results.map(\.notification.topic)) {
                let seqs = results.filter { $0.notification.topic == topic }.map(\.notification.seq)
                #expect(seqs == Array(seqs[0]..<seqs[0] + Int64(seqs.count)), "\(topic): \(seqs)")
            }
        }
        // Every topic is gap-free from 1.
        for topic in Set(stored.values.map(\.topic)) {
            let seqs = stored.values.filter { $0.topic == topic }.map(\.seq).sorted()
            #expect(seqs == Array(1...Int64(seqs.count)), "\(topic)")
        }
    }

    /// Validated items of a batch request whose `notifications` are `items` (JSON objects).
    static func items(_ items: [String]) throws -> [PublishItem] {
        try Array(#"{"notifications":[\#(items.joined(separator: ","))]}"#.utf8).withUnsafeBytes { body in
            try PublishBodyParser.batch(json: body, maximumItems: 1000, maximumData: 1 << 20)
        }
    }
}
