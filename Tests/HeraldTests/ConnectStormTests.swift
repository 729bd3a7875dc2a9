import Foundation
import HeraldCore
import HeraldServer
import Testing

extension IsolatedTests {
    /// Thousands of subscribers arriving at once each read what they missed: their reads go
    /// through `CatchUpReads`, a few at a time and shared while identical, and their pages
    /// are written a few at a time (`Hub.pageTurns`).
    @Suite("Connect storms: catch-up reads shared and bounded, pages written in turns")
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

            // The last page (not full) is read anew every time; a full page asked for again
            // a moment later is the one kept.
            let last = try await reads.read(topic: "storm-page", after: 1000, limit: 1000)
            #expect(last.notifications.map(\.seq) == Array(1001...1500))
            #expect(reads.queryCount == before + queries + 1)
            let again = try await reads.read(topic: "storm-page", after: 0, limit: 1000)
            #expect(again.notifications.map(\.seq) == Array(1...1000))
            #expect(reads.queryCount == before + queries + 1, "a full page read a moment ago is kept")
            _ = try await reads.read(topic: "storm-page", after: 1000, limit: 1000)
            #expect(reads.queryCount == before + queries + 2)
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
            // Every page's turn came back.
            #expect(await Self.turnsReturned(server), "\(server.instance.hub.pageTurns.taken) page turns still taken")
        }

        @Test("readers that stop reading (SSE and WebSocket) give back their page turn: another subscriber catches up 4,000 meanwhile, with one page written at a time")
        func stalledReadersGiveBackTheirTurn() async throws {
            let server = try await TestServer.start { $0.catchUpPagesAtOnce = 1 }
            defer { Task { await server.stop() } }
            // ~6 MB: far more than a socket holds, so the stalled readers' streams wait for them.
            try await IsolatedTests.WebSocketLiveTests.publish(server, "stall", count: 4000, size: 1500)
            let stalledSSE = try await RawWebSocket.connect(
                port: server.port, path: "/v1/sse?topics=stall&after=stall:0", headers: ["Accept: text/event-stream"], receiveBuffer: 4096
            )
            let stalledWS = try await RawWebSocket.connect(port: server.port, path: "/v1/ws?topics=stall&after=stall:0", receiveBuffer: 4096)
            defer {
                stalledSSE.close()
                stalledWS.close()
            }
            #expect(stalledSSE.status == 200)
            #expect(stalledWS.status == 101)
            // Both got their first page and stopped reading it (their buffers are full).
            let deadline = ContinuousClock.now + .seconds(20)
            while stalledSSE.unreadBytes < 2048 || stalledWS.unreadBytes < 2048, ContinuousClock.now < deadline {
                try await Task.sleep(for: .milliseconds(20))
            }
            #expect(stalledSSE.unreadBytes >= 2048 && stalledWS.unreadBytes >= 2048, "the stalled readers got no page")
            // Their streams now wait for sockets that do not drain; a turn held through that
            // wait would leave this subscriber without one.
            let reader = TestWebSocket.connect(WebSocketTests.url(server, "?topics=stall&after=stall:0"))
            defer { reader.close() }
            let seen = await DeliveryTests.collectWS(reader, total: 4000)
            let complete = seen.isExactly(["stall": 4000])
            #expect(complete, "the reader saw \(seen.count) of 4000, out of order or with gaps")
            #expect(await Self.turnsReturned(server), "\(server.instance.hub.pageTurns.taken) page turns still taken")
        }

        /// Whether no page turn is taken, within a few seconds (the last ones end as their
        /// pages are written).
        static func turnsReturned(_ server: TestServer) async -> Bool {
            let deadline = ContinuousClock.now + .seconds(5)
            while server.instance.hub.pageTurns.taken > 0, ContinuousClock.now < deadline {
                try? await Task.sleep(for: .milliseconds(20))
            }
            return server.instance.hub.pageTurns.taken == 0
        }
    }
}
