import Foundation
import HeraldPostgres
import NIOHTTP1
import Synchronization
import Testing

@Suite("Graceful shutdown")
struct ShutdownTests {
    @Test("SIGTERM: streams end cleanly and resume exactly on another instance, in-flight publishes are answered, exit 0 in time")
    func sigterm() async throws {
        let url = try await TestCluster.shared.makeDatabase()
        let leaving = try HeraldProcess(["serve", "--port", "0", "--shutdown-timeout", "5s"], environment: ["HERALD_DATABASE_URL": url])
        let leavingPort = try await leaving.listeningPort()
        let staying = try HeraldProcess(["serve", "--port", "0", "--no-migrate"], environment: ["HERALD_DATABASE_URL": url])
        let stayingPort = try await staying.listeningPort()
        defer { staying.signal(SIGTERM) }
        let leavingURL = "http://127.0.0.1:\(leavingPort)"
        let stayingURL = "http://127.0.0.1:\(stayingPort)"

        let stream = try await SSEClient.open("\(leavingURL)/v1/sse?topics=g&after=g:0")
        let socket = TestWebSocket.connect("ws://127.0.0.1:\(leavingPort)/v1/ws?topics=g&after=g:0")
        _ = await socket.next(type: "subscribed")
        async let longPoll = TestHTTP.get("\(leavingURL)/v1/poll?topics=quiet&after=quiet:0&wait=30")
        for index in 1...10 {
            _ = try await TestHTTP.postJSON("\(leavingURL)/v1/topics/g/notifications", #"{"data":\#(index)}"#)
        }
        var lastID: String?
        for _ in 1...10 { lastID = (await stream.next())?.id ?? lastID }
        #expect(lastID == "g:10")

        // Publishes in flight while the signal arrives: each is answered, 2xx only if committed.
        let publishing = Task {
            var answered: [Int] = []
            for index in 11...60 {
                guard let answer = try? await TestHTTP.postJSON("\(leavingURL)/v1/topics/g/notifications", #"{"data":\#(index)}"#)
                else { break }
                if answer.status == 201, let seq = answer.json["seq"] as? Int { answered.append(seq) }
            }
            return answered
        }
        try await Task.sleep(for: .milliseconds(20))
        let signalled = ContinuousClock.now
        leaving.signal(SIGTERM)
        let status = try await leaving.wait(timeout: .seconds(15))
        let stopped = ContinuousClock.now
        #expect(status == 0, "\(leaving.text)")
        #expect(stopped - signalled < .seconds(5))
        let committed = await publishing.value
        let stored = try await TestDatabase(url: url).seqs("g")
        #expect(Set(committed).isSubset(of: Set(stored.map(Int.init))), "a publish answered 201 was not stored")

        // The SSE stream ended (end of stream, not a hang); the WebSocket was closed; the
        // long-poll was answered.
        var remaining: [Int] = []
        while let event = await stream.next(timeout: .seconds(5)) { if let seq = event.seq { remaining.append(seq) } }
        #expect(stream.events.isFinished)
        while await socket.next(timeout: .seconds(5)) != nil {}
        #expect(socket.messages.isFinished)
        // A close frame saying the server is going away, not a dropped connection.
        #expect(socket.closeCode.withLock { $0 } == "goingAway")
        let polled = try await longPoll
        #expect(polled.status == 200)

        // Reconnected to the other instance with its last id, it resumes exactly.
        let resumed = try await SSEClient.open("\(stayingURL)/v1/sse?topics=g&after=g:0", headers: [("Last-Event-ID", try #require(lastID))])
        defer { resumed.close() }
        var seqs: [Int] = []
        while seqs.count < stored.count - 10, let event = await resumed.next(timeout: .seconds(5)) {
            if let seq = event.seq { seqs.append(seq) }
        }
        // `..<` not `...`: when no in-flight publish committed before the signal, the range is empty.
        #expect(seqs == Array(11..<Int(stored.last ?? 10) + 1))
    }

    @Test("SIGTERM: connections opened and never used (a browser's spares) close at once, and no publish is committed without its answer, on keep-alive connections too")
    func sigtermSparesAndPublishesInFlight() async throws {
        let url = try await TestCluster.shared.makeDatabase()
        let leaving = try HeraldProcess(["serve", "--port", "0", "--shutdown-timeout", "8s"], environment: ["HERALD_DATABASE_URL": url])
        let port = try await leaving.listeningPort()
        let base = "http://127.0.0.1:\(port)"
        var spares: [RawWebSocket] = []
        for _ in 0..<3 { spares.append(try await RawWebSocket.open(port: port)) }
        // Once this is answered, the spares (connected before) have been accepted.
        #expect(try await TestHTTP.postJSON("\(base)/v1/topics/s/notifications", #"{"data":"first"}"#).status == 201)

        // Publishers on the test client's keep-alive connections, each publish its own data.
        let count = LockedValue(0)
        let publishers = (0..<4).map { worker in
            Task {
                var answered: [String] = []
                for index in 0..<2_000 {
                    let data = "\(worker)-\(index)"
                    guard let answer = try? await TestHTTP.postJSON("\(base)/v1/topics/s/notifications", #"{"data":"\#(data)"}"#),
                        answer.status == 201
                    else { break }
                    answered.append(data)
                    count.withLock { $0 += 1 }
                }
                return answered
            }
        }
        // The signal comes while they are going (however slow a loaded machine makes them).
        for _ in 0..<600 where count.withLock({ $0 }) < 20 { try await Task.sleep(for: .milliseconds(50)) }
        let signalled = ContinuousClock.now
        leaving.signal(SIGTERM)
        let status = try await leaving.wait(timeout: .seconds(30))
        let stopped = ContinuousClock.now
        #expect(status == 0, "\(leaving.text)")
        #expect(stopped - signalled < .seconds(5), "unused connections held the shutdown up")
        for spare in spares {
            #expect(await spare.readUntilClosed(timeout: 2).closed, "an unused connection was left open")
            spare.close()
        }
        var answered: Set<String> = ["first"]
        for publisher in publishers { answered.formUnion(await publisher.value) }
        #expect(answered.count > 10, "the publishers were not running when the signal came")

        // What is stored, read through another instance: exactly what was answered 201.
        let staying = try HeraldProcess(["serve", "--port", "0", "--no-migrate"], environment: ["HERALD_DATABASE_URL": url])
        defer { staying.signal(SIGTERM) }
        let stayingURL = "http://127.0.0.1:\(try await staying.listeningPort())"
        var stored: Set<String> = []
        var after = "s:0"
        while true {
            let page = try await TestHTTP.get("\(stayingURL)/v1/poll?topics=s&after=\(after)&limit=1000")
            let notifications = page.json["notifications"] as? [[String: Any]] ?? []
            if notifications.isEmpty { break }
            for notification in notifications { if let data = notification["data"] as? String { stored.insert(data) } }
            after = try #require(page.json["cursor"] as? String)
        }
        #expect(stored.subtracting(answered).isEmpty, "committed without an answer: \(stored.subtracting(answered).sorted())")
        #expect(answered.subtracting(stored).isEmpty, "answered 201 but not stored: \(answered.subtracting(stored).sorted())")
    }
}
