import Foundation
import HeraldCore
@testable import HeraldPostgres
import HeraldServer
import Testing

extension IsolatedTests {
    @Suite("High availability: a replicated PostgreSQL fails over and back")
    struct FailoverTests {
        static let topics = ["ha-a", "ha-b", "ha-c"]

        /// Every stored notification of the topics on `member`: topic → [(seq, id)] in seq order.
        static func stored(on member: EmbeddedPostgres, topics: [String]) async throws -> [String: [(seq: Int, id: String)]] {
            let database = TestDatabase(url: ReplicatedCluster.url(of: member))
            var stored: [String: [(seq: Int, id: String)]] = [:]
            for topic in topics {
                let rows = try await database.query(PostgresQuery("SELECT seq, id::text FROM herald.notifications WHERE topic = $1 ORDER BY seq", topic))
                stored[topic] = try rows.map { (try $0.decode(Int.self, at: 0), try $0.decode(String.self, at: 1)) }
            }
            return stored
        }

        /// The stored cursors of `clients`, read through `base`: client → topic → seq.
        static func cursors(_ clients: [String], base: String) async throws -> [String: [String: Int]] {
            var cursors: [String: [String: Int]] = [:]
            for client in clients {
                let answer = try await TestHTTP.get("\(base)/v1/clients/\(client)/cursors")
                cursors[client] = answer.json["cursors"] as? [String: Int] ?? [:]
            }
            return cursors
        }

        /// Herald's connections (pools and LISTEN) on `member`, by application name.
        static func heraldSessions(on member: EmbeddedPostgres) async throws -> [String] {
            let rows = try await TestDatabase(url: ReplicatedCluster.url(of: member)).query(
                "SELECT application_name || ' (' || state || ': ' || left(query, 60) || ')' FROM pg_stat_activity WHERE application_name LIKE 'herald%' AND pid <> pg_backend_pid() ORDER BY 1"
            )
            return try rows.map { try $0.decode(String.self, at: 0) }
        }

        @Test(
            "a primary that turns read-only (fenced) while its connections stay open is left: publishes get 503 unavailable with Retry-After (not 500) and /readyz 503; once the standby is promoted every publish is 201 at once, and the pools and the LISTEN connection are on it"
        )
        func readOnlyPrimaryIsLeft() async throws {
            let cluster = try await ReplicatedCluster.start(synchronous: false)
            defer { cluster.stop() }
            let (old, new) = (cluster.primary, cluster.standby)
            let server = try await TestServer.start(databaseURL: cluster.connectionString)
            defer { Task { await server.stop() } }
            let url = "\(server.baseURL)/v1/topics/fence/notifications"
            let stream = try await SSEClient.open("\(server.baseURL)/v1/sse?topics=fence")
            defer { stream.close() }
            // Warm every connection of the pools on the primary.
            try await withThrowingTaskGroup(of: Int.self) { group in
                for index in 0..<8 { group.addTask { try await TestHTTP.postJSON(url, #"{"data":\#(index)}"#).status } }
                for try await status in group { #expect(status == 201) }
            }
            #expect(try await Self.heraldSessions(on: old).contains { $0.hasPrefix("herald-listener ") })
            try await cluster.standbyCaughtUp()

            // Fenced: the server stays up, its sessions stay open, and it refuses writes.
            try await ReplicatedCluster.sql(old, "ALTER SYSTEM SET default_transaction_read_only = on", "SELECT pg_reload_conf()")
            try await ReplicatedCluster.waitForSetting(old, "default_transaction_read_only", "on")
            for index in 0..<3 {
                let answer = try await TestHTTP.postJSON(url, #"{"data":"fenced \#(index)"}"#)
                #expect(answer.status == 503, "\(answer.text)")
                #expect(answer.errorCode == "unavailable")
                #expect(answer.header("Retry-After") != nil)
            }
            let ready = try await TestHTTP.get("\(server.baseURL)/readyz")
            #expect(ready.status == 503, "\(ready.text)")

            // The standby takes over; the fenced server is still first in the string, and up.
            try await cluster.promote()
            var firstAccepted: ContinuousClock.Instant?
            let promoted = ContinuousClock.now
            while firstAccepted == nil, ContinuousClock.now - promoted < .seconds(15) {
                if try await TestHTTP.postJSON(url, #"{"data":"after"}"#).status == 201 { firstAccepted = .now }
                try await Task.sleep(for: .milliseconds(50))
            }
            #expect(firstAccepted != nil, "no publish was accepted within 15 s of the promotion")
            // No connection is left behind to fail a statement of its own: each publish is 201.
            var answered: [Int] = []
            for index in 0..<12 {
                answered.append(try await TestHTTP.postJSON(url, #"{"data":"moved \#(index)"}"#).status)
            }
            #expect(answered.allSatisfy { $0 == 201 }, "\(answered)")
            // The LISTEN connection follows within its health check: live delivery goes on.
            let moved = ContinuousClock.now
            var sessions: [String] = []
            while ContinuousClock.now - moved < .seconds(15) {
                sessions = try await Self.heraldSessions(on: old)
                if sessions.isEmpty { break }
                try await Task.sleep(for: .milliseconds(200))
            }
            #expect(sessions.isEmpty, "still on the read-only server: \(sessions)")
            #expect(try await Self.heraldSessions(on: new).contains { $0.hasPrefix("herald-listener ") })
            #expect(try await TestHTTP.becomesReady(server.baseURL, within: .seconds(15)))
            let live = try await TestHTTP.postJSON(url, #"{"data":"live"}"#)
            #expect(live.status == 201)
            var seqs: [Int] = []
            while let event = await stream.next(timeout: .seconds(10)), let seq = event.seq {
                seqs.append(seq)
                if seq == live.json["seq"] as? Int { break }
            }
            let stored = try await TestDatabase(url: ReplicatedCluster.url(of: new)).seqs("fence").map(Int.init)
            #expect(seqs == stored, "the subscriber got \(seqs), the new primary has \(stored)")
            #expect(stored == Array(stride(from: 1, through: stored.count, by: 1)))
        }

        @Test(
            "with its synchronous standby away, a publish is answered 503 within --publish-timeout and a second, its outcome unknown, not held; once the standby is back the commit completes and a retry with its Idempotency-Key gets that notification"
        )
        func synchronousStandbyAway() async throws {
            let cluster = try await ReplicatedCluster.start(synchronous: true)
            defer { cluster.stop() }
            let server = try await TestServer.start(databaseURL: cluster.connectionString) { $0.publisher.publishTimeout = .seconds(2) }
            defer { Task { await server.stop() } }
            let url = "\(server.baseURL)/v1/topics/sync/notifications"
            #expect(try await TestHTTP.postJSON(url, #"{"data":1}"#).status == 201)

            try cluster.standby.stop(mode: .fast)
            let started = ContinuousClock.now
            let answer = try await TestHTTP.postJSON(url, #"{"data":2}"#, headers: [("Idempotency-Key", "away-1")])
            let took = ContinuousClock.now - started
            #expect(answer.status == 503, "\(answer.text)")
            #expect(answer.errorCode == "unavailable")
            #expect(answer.header("Retry-After") != nil)
            #expect(answer.text.contains("could not be found out"), "\(answer.text)")
            #expect(took < .seconds(4), "answered after \(took)")

            try cluster.standby.start(logger: TestServer.logger)
            try await cluster.replicate(synchronously: true)
            let retry = try await TestHTTP.postJSON(url, #"{"data":2}"#, headers: [("Idempotency-Key", "away-1")])
            #expect(retry.status == 200, "\(retry.text)")
            #expect(retry.json["seq"] as? Int == 2)
            #expect(try await TestDatabase(url: ReplicatedCluster.url(of: cluster.primary)).seqs("sync") == [1, 2])
        }

        @Test(
            "fail over (primary killed) and switch back (planned) under REST and WebSocket publishers and SSE, WebSocket and long-poll subscribers on two instances: every 2xx stored once, gap-free seqs, each subscriber gets each seq once in order, 503 with Retry-After in the switch, /readyz 503 then 200, cursors kept"
        )
        func failoverAndSwitchBack() async throws {
            let cluster = try await ReplicatedCluster.start(synchronous: true)
            defer { cluster.stop() }
            // The second instance names the standby first: it must still use only the primary.
            let servers = [
                try await TestServer.start(databaseURL: cluster.connectionString),
                try await TestServer.start(databaseURL: cluster.connectionString(standbyFirst: true)),
            ]
            let traffic = FailoverTraffic(topics: Self.topics)
            defer {
                traffic.stop()
                for server in servers { Task { await server.stop() } }
            }
            var subscribers: [String] = []
            for index in servers.indices { subscribers += ["sse-\(index)", "ws-\(index)", "lp-\(index)"] }
            let watching = Task {
                await withTaskGroup(of: Void.self) { group in
                    for (index, server) in servers.enumerated() {
                        let (base, socketBase) = (server.baseURL, "ws://127.0.0.1:\(server.port)")
                        group.addTask { await traffic.subscribeOverSSE("sse-\(index)", base: base) }
                        group.addTask { await traffic.subscribeOverWebSocket("ws-\(index)", base: socketBase) }
                        group.addTask { await traffic.subscribeOverLongPoll("lp-\(index)", base: base) }
                        group.addTask { await traffic.watchReadiness(index, base: base) }
                    }
                }
            }
            defer { watching.cancel() }
            // Every subscriber is in before the first publish, so each must get every seq.
            let database = TestDatabase(url: ReplicatedCluster.url(of: cluster.primary))
            for _ in 0..<100 {
                let rows = try await database.query("SELECT count(DISTINCT client) FROM herald.cursors")
                if try rows[0].decode(Int.self, at: 0) == subscribers.count { break }
                try await Task.sleep(for: .milliseconds(100))
            }
            let publishing = Task {
                await withTaskGroup(of: Void.self) { group in
                    for (index, server) in servers.enumerated() {
                        let (base, socketBase) = (server.baseURL, "ws://127.0.0.1:\(server.port)")
                        group.addTask { await traffic.publishOverREST("rest-\(index)", base: base) }
                        group.addTask { await traffic.publishOverWebSocket("wsp-\(index)", base: socketBase) }
                    }
                }
            }

            var switches: [(name: String, stopAt: ContinuousClock.Instant, stoppedAt: ContinuousClock.Instant, promotedAt: ContinuousClock.Instant)] = []
            var cursorsBefore: [[String: [String: Int]]] = []
            for (name, mode) in [("failover", EmbeddedPostgres.StopMode.immediate), ("switch-back", .fast)] {
                try await Task.sleep(for: .seconds(2))
                cursorsBefore.append(try await Self.cursors(subscribers, base: servers[0].baseURL))
                let stopAt = ContinuousClock.now
                try cluster.primary.stop(mode: mode)
                let stoppedAt = ContinuousClock.now
                try await cluster.promote()
                switches.append((name, stopAt, stoppedAt, ContinuousClock.now))
                print("FAILOVER phase=\(name) promoted")
                try await Task.sleep(for: .seconds(2))
                // The old primary comes back as the new one's synchronous standby.
                try await cluster.rejoin(synchronously: true)
                print("FAILOVER phase=\(name) rejoined")
            }
            try await Task.sleep(for: .seconds(1))
            traffic.stopPublishing()
            let published = await withDeadline(.seconds(60)) { await publishing.value } != nil
            #expect(published, "publishers still busy 60 s after being stopped: \(traffic.doing)")
            print("FAILOVER phase=published finished=\(published)")

            // Publishers finish the publish each is on (retried until answered 2xx).
            let settle = ContinuousClock.now + .seconds(40)
            var stored = try await Self.stored(on: cluster.primary, topics: Self.topics)
            var lastSeqs = stored.mapValues { $0.last?.seq ?? 0 }
            while ContinuousClock.now < settle {
                try await Task.sleep(for: .milliseconds(500))
                let now = try await Self.stored(on: cluster.primary, topics: Self.topics)
                let seqs = now.mapValues { $0.last?.seq ?? 0 }
                if seqs == lastSeqs, traffic.subscribersReached(seqs, subscribers: subscribers) { break }
                (stored, lastSeqs) = (now, seqs)
            }
            let cursorsAfter = try await Self.cursors(subscribers, base: servers[1].baseURL)
            traffic.stopSubscribing()
            let unsubscribed = await withDeadline(.seconds(30)) { await watching.value } != nil
            #expect(unsubscribed, "subscribers still busy 30 s after being stopped")

            // What was answered 2xx is what is stored: each once, with the seq it was answered.
            let acknowledged = traffic.acknowledged
            var storedIDs: [String: (topic: String, seq: Int)] = [:]
            for (topic, rows) in stored {
                #expect(rows.map(\.seq) == Array(stride(from: 1, through: rows.count, by: 1)), "\(topic): seqs with gaps")
                for row in rows { storedIDs[row.id] = (topic, row.seq) }
            }
            let lost = acknowledged.filter { storedIDs[$0.id] == nil }
            #expect(lost.isEmpty, "answered 2xx but not stored: \(lost.prefix(5))")
            for ack in acknowledged {
                if let row = storedIDs[ack.id] { #expect(row.topic == ack.topic && row.seq == ack.seq, "\(ack.id) answered as \(ack.topic):\(ack.seq), stored as \(row)") }
            }
            #expect(Set(acknowledged.map(\.id)) == Set(storedIDs.keys), "stored but never answered 2xx, or answered twice")
            #expect(Set(acknowledged.map(\.id)).count == acknowledged.count, "one publish answered twice")
            #expect(traffic.unexpected.isEmpty, "\(traffic.unexpected.prefix(10))")

            // Every subscriber got every seq of every topic once, in order, without reconnecting.
            let received = traffic.received
            for subscriber in subscribers {
                for (topic, rows) in stored {
                    let seqs = received[subscriber]?[topic] ?? []
                    #expect(seqs == rows.map(\.seq), "\(subscriber) on \(topic): \(seqs.count) received, \(rows.count) stored")
                }
            }
            #expect(traffic.reconnects.isEmpty, "subscribers reconnected: \(traffic.reconnects)")

            // Cursors stored before each switch are there after it, never behind.
            for before in cursorsBefore {
                for (client, topics) in before {
                    for (topic, seq) in topics {
                        #expect((cursorsAfter[client]?[topic] ?? -1) >= seq, "\(client)'s cursor on \(topic) went back from \(seq)")
                    }
                }
            }
            #expect(cursorsBefore.allSatisfy { $0.values.contains { !$0.isEmpty } }, "no cursors were stored to compare")

            // Each switch: /readyz went 503 and came back; measured figures for docs/operations.md.
            let readiness = traffic.readiness
            let refused = traffic.refused
            for (number, change) in switches.enumerated() {
                let end = switches.indices.contains(number + 1) ? switches[number + 1].stopAt : ContinuousClock.now
                for instance in servers.indices {
                    let answers = (readiness[instance] ?? []).filter { $0.0 >= change.stopAt && $0.0 < end }
                    #expect(answers.contains { $0.1 == 503 }, "\(change.name): /readyz of instance \(instance) never said 503")
                    #expect(answers.last?.1 == 200, "\(change.name): /readyz of instance \(instance) did not come back to 200")
                }
                let first = acknowledged.filter { $0.sentAt >= change.stoppedAt }.map(\.answeredAt).min()
                let accepted = try #require(first, "\(change.name): nothing was accepted after the switch")
                let window = acknowledged.filter { $0.answeredAt >= change.stopAt && $0.answeredAt <= accepted }
                let windowLost = window.filter { storedIDs[$0.id] == nil }.count
                print(
                    "FAILOVER switch=\(change.name) stop_ms=\((change.stoppedAt - change.stopAt).wholeMilliseconds) promote_ms=\((change.promotedAt - change.stoppedAt).wholeMilliseconds) stop_to_first_201_ms=\((accepted - change.stopAt).wholeMilliseconds) answered_2xx=\(window.count) answered_503=\(refused.filter { $0 >= change.stopAt && $0 <= accepted }.count) lost=\(windowLost)"
                )
            }
            print("FAILOVER total_2xx=\(acknowledged.count) total_503=\(refused.count) lost=\(lost.count) stored=\(storedIDs.count)")
        }
    }
}

