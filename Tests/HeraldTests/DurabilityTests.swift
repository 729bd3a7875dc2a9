import Foundation
import HeraldCore
import HeraldPostgres
import HeraldServer
import Logging
import Testing

@Suite("Durability and database outages", .serialized)
struct DurabilityTests {
    /// A cluster of its own, since these tests stop and restart PostgreSQL.
    static func privateCluster() throws -> EmbeddedPostgres {
        let server = try EmbeddedPostgres(directory: TestCluster.makeTemporaryDirectory(prefix: "herald-durability"))
        try server.start(logger: Logger(label: "test.durability"))
        TestCluster.stopAtExit(server)
        return server
    }

    @Test("a 201-answered publish survives pg_ctl stop -m immediate; meanwhile publishes get 503 with Retry-After and /readyz is 503")
    func survivesCrash() async throws {
        let cluster = try Self.privateCluster()
        let server = try await TestServer.start(databaseURL: cluster.connectionString)
        defer { Task { await server.stop() } }
        var published: [(Int, String)] = []
        for index in 0..<20 {
            let answer = try await TestHTTP.postJSON("\(server.baseURL)/v1/topics/durable/notifications", #"{"data":\#(index)}"#)
            #expect(answer.status == 201)
            published.append((answer.json["seq"] as? Int ?? 0, answer.json["id"] as? String ?? ""))
        }
        #expect(try await TestHTTP.becomesReady(server.baseURL))

        try cluster.stop(mode: .immediate)
        let refused = try await TestHTTP.postJSON("\(server.baseURL)/v1/topics/durable/notifications", #"{"data":"lost?"}"#)
        #expect(refused.status == 503)
        #expect(refused.errorCode == "unavailable")
        #expect(refused.header("Retry-After") != nil)
        let ready = try await TestHTTP.get("\(server.baseURL)/readyz")
        #expect(ready.status == 503)
        #expect(try await TestHTTP.get("\(server.baseURL)/healthz").status == 200)

        try cluster.start(logger: Logger(label: "test.durability"))
        // The pool and the LISTEN connection come back by themselves.
        guard try await TestHTTP.becomesReady(server.baseURL) else { throw TestFailure("not ready again after the restart") }
        for (seq, id) in published {
            let fetched = try await TestHTTP.get("\(server.baseURL)/v1/topics/durable/notifications/\(seq)")
            #expect(fetched.status == 200)
            #expect(fetched.json["id"] as? String == id)
        }
        // The refused publish left nothing behind, and the next one takes the next seq.
        let next = try await TestHTTP.postJSON("\(server.baseURL)/v1/topics/durable/notifications", #"{"data":"after"}"#)
        #expect(next.status == 201)
        #expect(next.json["seq"] as? Int == 21)
    }

    @Test("a long-poll waiting through a restart of PostgreSQL still gets what is published after it")
    func longPollThroughRestart() async throws {
        let cluster = try Self.privateCluster()
        let server = try await TestServer.start(databaseURL: cluster.connectionString)
        defer { Task { await server.stop() } }
        async let polled = TestHTTP.get("\(server.baseURL)/v1/poll?topics=x&after=x:0&wait=30")
        // Wait until the long-poll has read once and is waiting (a read that meets the
        // database down is answered 503, as it should be: that is not this test).
        let registered = ContinuousClock.now + .seconds(10)
        while server.instance.signals.waitingCount == 0, ContinuousClock.now < registered {
            try await Task.sleep(for: .milliseconds(20))
        }
        guard server.instance.signals.waitingCount > 0 else { throw TestFailure("the long-poll never started waiting") }
        try cluster.stop(mode: .immediate)
        try await Task.sleep(for: .milliseconds(500))
        try cluster.start(logger: Logger(label: "test.durability"))
        var answer: TestHTTP.Answer? = nil
        let deadline = ContinuousClock.now + .seconds(20)
        while answer?.status != 201 {
            guard ContinuousClock.now < deadline else { throw TestFailure("publishing did not recover") }
            answer = try? await TestHTTP.postJSON("\(server.baseURL)/v1/topics/x/notifications", #"{"data":"back"}"#)
            if answer?.status != 201 { try await Task.sleep(for: .milliseconds(200)) }
        }
        let result = try await polled
        #expect(result.status == 200)
        #expect((result.json["notifications"] as? [[String: Any]])?.first?["data"] as? String == "back")
    }
}
