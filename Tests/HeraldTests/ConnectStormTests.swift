import Foundation
import HeraldCore
import HeraldServer
import Testing

extension IsolatedTests {
    /// Thousands of subscribers arriving at once each read what they missed: their reads go
    /// through `CatchUpReads`, a few at a time and shared while identical.
    @Suite("Connect storms: catch-up reads shared and bounded")
    struct ConnectStormTests {
        @Test("200 identical catch-up reads at once: every one gets the whole page, read after it asked, by a handful of queries")
        func identicalReadsShareQueries() async throws {
            let server = try await TestServer.start()
            defer { Task { await server.stop() } }
            try await IsolatedTests.WebSocketLiveTests.publish(server, "storm-page", count: 1500, size: 16)
            let reads = server.instance.hub.catchUpReads
            let before = reads.queryCount
            let pages = try await withThrowingTaskGroup(of: [Int64].self) { group in
                for _ in 0..<200 {
                    group.addTask { try await reads.read(topic: "storm-page", after: 0, limit: 1000).notifications.map(\.seq) }
                }
                return try await group.reduce(into: []) { $0.append($1) }
            }
            #expect(pages.count == 200)
            #expect(pages.allSatisfy { $0 == Array(1...1000) }, "every read got seqs 1...1000")
            let queries = reads.queryCount - before
            // At most `maximumConcurrent` start at once; the rest wait, and join the one read
            // waiting for its turn. Without sharing this would be 200.
            #expect(queries >= 1 && queries <= 2 * reads.maximumConcurrent + 2, "\(queries) queries for 200 reads")

            // A read after those is a new query: nothing is cached.
            let after = try await reads.read(topic: "storm-page", after: 1000, limit: 1000)
            #expect(after.notifications.map(\.seq) == Array(1001...1500))
            #expect(reads.queryCount == before + queries + 1)
        }

        @Test("60 WebSocket subscribers connecting at once from the start of 2,000 stored notifications each get exactly 1...2,000, then live ones")
        func stormFromTheStart() async throws {
            let server = try await TestServer.start()
            defer { Task { await server.stop() } }
            try await IsolatedTests.WebSocketLiveTests.publish(server, "storm", count: 2000, size: 32)
            let before = server.instance.hub.catchUpReads.queryCount
            let sockets = (0..<60).map { _ in TestWebSocket.connect(WebSocketTests.url(server, "?topics=storm&after=storm:0")) }
            defer { for socket in sockets { socket.close() } }
            let seen = await withTaskGroup(of: Seen.self) { group in
                for socket in sockets { group.addTask { await DeliveryTests.collectWS(socket, total: 2000) } }
                return await group.reduce(into: []) { $0.append($1) }
            }
            for (index, result) in seen.enumerated() {
                #expect(result.isExactly(["storm": 2000]), "subscriber \(index) saw \(result.count) of 2000, out of order or with gaps")
            }
            // Two pages each (and a last, empty read) for 60 subscribers, mostly shared.
            let queries = server.instance.hub.catchUpReads.queryCount - before
            #expect(queries < 90, "\(queries) catch-up queries for 60 subscribers × 3 reads")
            // And all of them are live now.
            _ = try await SSETests.publish(server, "storm", "2001")
            let live = await withTaskGroup(of: Int?.self) { group in
                for socket in sockets {
                    group.addTask { (await socket.next(type: "notification"))?["notification"].flatMap { ($0 as? [String: Any])?["seq"] as? Int } }
                }
                return await group.reduce(into: []) { $0.append($1) }
            }
            #expect(live.allSatisfy { $0 == 2001 })
        }
    }
}
