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
}
