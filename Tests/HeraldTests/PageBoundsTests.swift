import Foundation
import HeraldCore
import HeraldPostgres
import HeraldServer
import Testing

@Suite("Pages of the log are bounded by bytes as well as rows")
struct PageBoundsTests {
    /// Publishes `count` notifications to `topic` whose data is a JSON string of `bytes` bytes.
    static func publish(_ server: TestServer, _ topic: String, count: Int, bytes: Int) async throws {
        let data = "\"" + String(repeating: "x", count: bytes - 2) + "\""
        for _ in 1...count { _ = try await SSETests.publish(server, topic, data) }
    }

    @Test("catch-up pages stop at the byte budget, always carry at least one row, and read on to the end without a gap")
    func catchUpPages() async throws {
        let server = try await TestServer.start()
        defer { Task { await server.stop() } }
        try await Self.publish(server, "pages", count: 10, bytes: 100)
        try await Self.publish(server, "big", count: 3, bytes: 1000)
        let store = NotificationStore(pool: server.instance.pool, maximumPageBytes: 250)

        var after: Int64 = 0
        var pages: [[Int64]] = []
        while true {
            let page = try await store.read(topic: "pages", after: after, limit: 1000)
            #expect(!page.notifications.isEmpty, "a page before the end is never empty")
            #expect(page.notifications.reduce(0) { $0 + $1.data.utf8.count } <= 250)
            pages.append(page.notifications.map(\.seq))
            after = page.notifications.last?.seq ?? after
            if page.isLast { break }
            try #require(pages.count < 20, "the pages never reached the end")
        }
        // 100 bytes each: two fit in 250, a third would not.
        #expect(pages == [[1, 2], [3, 4], [5, 6], [7, 8], [9, 10]])

        // Rows larger than the budget come one at a time, and the last page says so.
        var big: [Page] = []
        after = 0
        repeat {
            let page = try await store.read(topic: "big", after: after, limit: 1000)
            big.append(Page(seqs: page.notifications.map(\.seq), isLast: page.isLast))
            after = page.notifications.last?.seq ?? after
        } while big.last?.isLast == false && big.count < 10
        #expect(big == [Page(seqs: [1], isLast: false), Page(seqs: [2], isLast: false), Page(seqs: [3], isLast: true)])

        // The row limit still applies, and a page cut by it is not the last either.
        let limited = try await NotificationStore(pool: server.instance.pool).read(topic: "pages", after: 0, limit: 4)
        #expect(limited.notifications.map(\.seq) == [1, 2, 3, 4])
        #expect(!limited.isLast)
        let rest = try await NotificationStore(pool: server.instance.pool).read(topic: "pages", after: 4, limit: 1000)
        #expect(rest.notifications.map(\.seq) == [5, 6, 7, 8, 9, 10])
        #expect(rest.isLast)
    }

    @Test("a poll's answer stops at the byte budget across topics, and the next poll goes on from there")
    func pollPages() async throws {
        let server = try await TestServer.start()
        defer { Task { await server.stop() } }
        try await Self.publish(server, "p1", count: 3, bytes: 100)
        try await Self.publish(server, "p2", count: 3, bytes: 100)
        let store = NotificationStore(pool: server.instance.pool, maximumPageBytes: 250)
        var positions: [String: Int64] = ["p1": 0, "p2": 0]
        var seen: [String] = []
        for _ in 0..<10 {
            let answer = try await store.poll(after: positions.sorted { $0.key < $1.key }.map { ($0.key, $0.value) }, limit: 100)
            if answer.isEmpty { break }
            #expect(answer.count <= 2)
            for notification in answer {
                seen.append("\(notification.topic):\(notification.seq)")
                positions[notification.topic] = notification.seq
            }
        }
        #expect(seen == ["p1:1", "p1:2", "p1:3", "p2:1", "p2:2", "p2:3"])
    }

    /// A page as the test compares it.
    struct Page: Equatable {
        var seqs: [Int64]
        var isLast: Bool
    }
}
