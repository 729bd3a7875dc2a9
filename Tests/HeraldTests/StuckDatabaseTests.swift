import Foundation
@testable import HeraldCore
import HeraldPostgres
import HeraldServer
import Testing

extension IsolatedTests {
    @Suite("A stuck database stalls only what it must")
    struct StuckDatabaseTests {
        /// A session of its own on `url`, whose transaction stays open while `body` runs (a
        /// transaction another client holds); rolled back after, or committed.
        static func holding<T: Sendable>(
            _ url: String, _ statements: [String], commit: Bool = false, while body: @Sendable () async throws -> T
        ) async throws -> T {
            let pool = PostgresPool(configuration: .init(connectionString: url, maximumConnections: 1, applicationName: "test-holder"))
            defer { pool.shutdown() }
            return try await pool.withConnection { connection in
                try await connection.query("BEGIN")
                for statement in statements { try await connection.query(PostgresQuery(stringLiteral: statement)) }
                do {
                    let result = try await body()
                    try await connection.query(commit ? "COMMIT" : "ROLLBACK")
                    return result
                } catch {
                    _ = try? await connection.query("ROLLBACK")
                    throw error
                }
            }
        }

        @Test("with a topic's row held FOR UPDATE by another session for 30 s, 20 publishes to another topic each answer within 2 s, and the held topic's publishes answer 503 within 15 s with nothing stored")
        func heldTopicRow() async throws {
            let server = try await TestServer.start()
            defer { Task { await server.stop() } }
            _ = try await SSETests.publish(server, "held", "1")
            _ = try await SSETests.publish(server, "free", "1")
            let database = TestDatabase(url: server.databaseURL)
            let url = server.baseURL
            try await Self.holding(server.databaseURL, ["SELECT * FROM herald.topics WHERE name = 'held' FOR UPDATE"]) {
                let started = ContinuousClock.now
                async let held = withThrowingTaskGroup(of: (TestHTTP.Answer, Duration).self) { group in
                    for index in 0..<3 {
                        group.addTask {
                            let start = ContinuousClock.now
                            let answer = try await TestHTTP.postJSON("\(url)/v1/topics/held/notifications", #"{"data":\#(index)}"#)
                            return (answer, ContinuousClock.now - start)
                        }
                    }
                    return try await group.reduce(into: []) { $0.append($1) }
                }
                for index in 0..<20 {
                    let start = ContinuousClock.now
                    let answer = try await TestHTTP.postJSON("\(url)/v1/topics/free/notifications", #"{"data":\#(index)}"#)
                    let took = ContinuousClock.now - start
                    #expect(answer.status == 201, "\(answer.text)")
                    #expect(took < .seconds(2), "publish \(index) to a free topic took \(took)")
                }
                for (answer, took) in try await held {
                    #expect(answer.status == 503, "\(answer.text)")
                    #expect(answer.errorCode == "unavailable")
                    #expect(answer.header("Retry-After") != nil)
                    #expect(answer.text.contains("nothing was stored"))
                    #expect(took < .seconds(15), "the held topic's publish answered after \(took)")
                }
                // Still held later on: a publish then is refused the same way, free ones go on.
                try await Task.sleep(until: started + .seconds(20), clock: .continuous)
                let late = try await TestHTTP.postJSON("\(url)/v1/topics/held/notifications", #"{"data":"late"}"#)
                #expect(late.status == 503)
                #expect(try await TestHTTP.postJSON("\(url)/v1/topics/free/notifications", #"{"data":"late"}"#).status == 201)
                #expect(try await database.seqs("held") == [1])
                #expect(try await database.seqs("free").count == 22)
                try await Task.sleep(until: started + .seconds(30), clock: .continuous)
            }
            // Once the lock goes, the topic publishes again, with the next seq.
            let after = try await TestHTTP.postJSON("\(url)/v1/topics/held/notifications", #"{"data":"after"}"#)
            #expect(after.status == 201)
            #expect(after.json["seq"] as? Int == 2)
        }

        @Test("a producer publishing from SQL inside its own open transaction (creating the topic) delays only that topic: its publishes get 503 after --publish-timeout, or commit once the producer does")
        func producerTransaction() async throws {
            let server = try await TestServer.start()
            defer { Task { await server.stop() } }
            let url = server.baseURL
            try await Self.holding(
                server.databaseURL,
                [#"SELECT * FROM herald.publish(ARRAY['sqlheld'], ARRAY[NULL], ARRAY['"from SQL"'], ARRAY[NULL]::int[], ARRAY[NULL])"#]
            ) {
                async let waiting = TestHTTP.postJSON("\(url)/v1/topics/sqlheld/notifications", #"{"data":"from REST"}"#)
                for index in 0..<5 {
                    let start = ContinuousClock.now
                    let answer = try await TestHTTP.postJSON("\(url)/v1/topics/other/notifications", #"{"data":\#(index)}"#)
                    #expect(answer.status == 201)
                    #expect(ContinuousClock.now - start < .seconds(2))
                }
                let answer = try await waiting
                // The producer never committed (rolled back at the end): nothing stored.
                #expect(answer.status == 503, "\(answer.text)")
            }
            let free = try await TestHTTP.postJSON("\(url)/v1/topics/sqlheld/notifications", #"{"data":"after"}"#)
            #expect(free.status == 201)
            #expect(free.json["seq"] as? Int == 1)

            // A producer that commits within the time limit: the waiting publish follows it.
            let waited = try await Self.holding(
                server.databaseURL,
                [#"SELECT * FROM herald.publish(ARRAY['sqlheld'], ARRAY[NULL], ARRAY['"from SQL"'], ARRAY[NULL]::int[], ARRAY[NULL])"#],
                commit: true
            ) {
                let publish = Task { try await TestHTTP.postJSON("\(url)/v1/topics/sqlheld/notifications", #"{"data":"from REST"}"#) }
                try await Task.sleep(for: .seconds(1))
                return publish
            }
            let answer = try await waited.value
            #expect(answer.status == 201, "\(answer.text)")
            #expect(answer.json["seq"] as? Int == 3)
        }

        @Test("pool connections run with statement_timeout and lock_timeout; publishing has its own pool, so reads holding every read connection do not stop it")
        func poolsAndTimeouts() async throws {
            let server = try await TestServer.start { $0.poolSize = 1 }
            defer { Task { await server.stop() } }
            let read = try await server.instance.pool.query("SELECT current_setting('statement_timeout'), current_setting('lock_timeout')")
            #expect(try read[0].decode(String.self, at: 0) == "30s")
            #expect(try read[0].decode(String.self, at: 1) == "5s")
            let publish = try await server.instance.publishPool.query("SELECT current_setting('statement_timeout'), current_setting('lock_timeout')")
            #expect(try publish[0].decode(String.self, at: 0) == "5s")
            #expect(try publish[0].decode(String.self, at: 1) == "250ms")
            // The read pool's only connection is busy for 3 s (a long read, a storm of catch-ups).
            let pool = server.instance.pool
            let busy = Task { try await pool.query("SELECT pg_sleep(3)") }
            try await Task.sleep(for: .milliseconds(200))
            let start = ContinuousClock.now
            let answer = try await TestHTTP.postJSON("\(server.baseURL)/v1/topics/meanwhile/notifications", #"{"data":1}"#)
            #expect(answer.status == 201)
            #expect(ContinuousClock.now - start < .seconds(2))
            _ = try await busy.value
        }

        @Test("a read stopped by lock_timeout is answered 503 unavailable with Retry-After, not 500")
        func readTimeLimitIsUnavailable() async throws {
            let server = try await TestServer.start()
            defer { Task { await server.stop() } }
            _ = try await SSETests.publish(server, "locked", "1")
            // Another session holds the topics table exclusively: a poll waits for it up to
            // the read pool's lock_timeout (5 s).
            let answer = try await Self.holding(server.databaseURL, ["LOCK TABLE herald.topics IN ACCESS EXCLUSIVE MODE"]) {
                try await TestHTTP.get("\(server.baseURL)/v1/poll?topics=locked&after=locked:0")
            }
            #expect(answer.status == 503, "\(answer.text)")
            #expect(answer.errorCode == "unavailable")
            #expect(answer.header("Retry-After") != nil)
            // Once the lock is gone the same poll is served.
            let again = try await TestHTTP.get("\(server.baseURL)/v1/poll?topics=locked&after=locked:0")
            #expect(again.status == 200)
        }

        /// A server on a fresh database reached through a `PostgresProxy`, with one committer
        /// (so the next batch runs on the connection the proxy watches); `direct` bypasses it.
        static func serverBehindProxy() async throws -> (server: TestServer, proxy: PostgresProxy, direct: String) {
            let admin = try await TestCluster.shared.adminConnectionString()
            let socketDirectory = try #require(admin.split(separator: " ").first { $0.hasPrefix("host=") }.map { String($0.dropFirst(5)) })
            let proxy = try PostgresProxy(socketDirectory: socketDirectory)
            let direct = try await TestCluster.shared.makeDatabase()
            let name = try #require(direct.split(separator: " ").first { $0.hasPrefix("dbname=") }.map { String($0.dropFirst(7)) })
            let server = try await TestServer.start(databaseURL: proxy.connectionString(database: name)) { $0.publisher.committers = 1 }
            return (server, proxy, direct)
        }

        @Test("a held topic whose probe fails (its connection lost) is not left waiting: once the lock goes, the next publish to it is answered 201 at once")
        func failedProbeFreesItsTopic() async throws {
            let (server, proxy, direct) = try await Self.serverBehindProxy()
            defer { Task { await server.stop() } }
            _ = try await SSETests.publish(server, "probed", "1")
            let url = server.baseURL
            let publisher = server.instance.publisher
            try await Self.holding(direct, ["SELECT * FROM herald.topics WHERE name = 'probed' FOR UPDATE"]) {
                async let first = TestHTTP.postJSON("\(url)/v1/topics/probed/notifications", #"{"data":"while held"}"#)
                // Its lock wait runs out (250 ms): the topic is held, its request probed.
                let deadline = ContinuousClock.now + .seconds(5)
                while !publisher.heldTopics.contains("probed"), ContinuousClock.now < deadline {
                    try await Task.sleep(for: .milliseconds(20))
                }
                #expect(publisher.heldTopics.contains("probed"), "the topic never became held")
                // The next probe's connection is cut: the probe fails, its request is answered.
                proxy.cutAfterNextStatement(application: "herald-publish")
                let answer = try await first
                #expect(proxy.hasCut, "the proxy never cut a connection")
                #expect(answer.status == 503, "\(answer.text)")
            }
            // The lock is gone: the topic publishes again, not after --publish-timeout.
            let started = ContinuousClock.now
            let after = try await TestHTTP.postJSON("\(url)/v1/topics/probed/notifications", #"{"data":"after"}"#)
            let took = ContinuousClock.now - started
            #expect(after.status == 201, "\(after.text)")
            #expect(took < .seconds(2), "the publish after the lock went took \(took)")
            #expect(try await TestDatabase(url: direct).seqs("probed") == [1, 2])
        }

        @Test("a connection lost during the commit of a batch that committed is answered 201 with what was stored")
        func lostAnswerOfACommit() async throws {
            let (server, proxy, direct) = try await Self.serverBehindProxy()
            defer { Task { await server.stop() } }
            // The publisher's connection and the topic exist; the next statement it runs is a batch.
            _ = try await SSETests.publish(server, "lost", "1")
            proxy.loseNextCommitAnswer(application: "herald-publish")
            let answer = try await TestHTTP.postJSON("\(server.baseURL)/v1/topics/lost/notifications", #"{"data":"committed, answer lost"}"#)
            #expect(proxy.hasLostAnswer, "the proxy never dropped an answer")
            #expect(answer.status == 201, "\(answer.text)")
            #expect(answer.json["seq"] as? Int == 2)
            #expect(answer.json["data"] as? String == "committed, answer lost")
            let stored = try await TestHTTP.get("\(server.baseURL)/v1/topics/lost/notifications/2")
            #expect(stored.json["id"] as? String == answer.json["id"] as? String)
            #expect(try await TestDatabase(url: direct).seqs("lost") == [1, 2])
        }

        @Test("a lost answer of a committed batch that repeated an idempotency key: 201, the repeat with its original, the new item with its new seq")
        func lostAnswerOfABatchWithARepeat() async throws {
            let (server, proxy, direct) = try await Self.serverBehindProxy()
            defer { Task { await server.stop() } }
            // The topics exist; the next statement the publisher runs is a batch.
            let first = try await TestHTTP.postJSON(
                "\(server.baseURL)/v1/notifications",
                #"{"notifications":[{"topic":"kept","data":"original","idempotency_key":"k1"},{"topic":"other","data":"first"}]}"#
            )
            #expect(first.status == 201)
            proxy.loseNextCommitAnswer(application: "herald-publish")
            let answer = try await TestHTTP.postJSON(
                "\(server.baseURL)/v1/notifications",
                #"{"notifications":[{"topic":"kept","data":"again","idempotency_key":"k1"},{"topic":"kept","data":"new"},{"topic":"other","data":"new too"}]}"#
            )
            #expect(proxy.hasLostAnswer, "the proxy never dropped an answer")
            #expect(answer.status == 201, "\(answer.text)")
            let items = try #require(answer.json["notifications"] as? [[String: Any]])
            #expect(items.map { $0["seq"] as? Int } == [1, 2, 2])
            #expect(items.map { $0["data"] as? String } == ["original", "new", "new too"])
            let original = try #require((first.json["notifications"] as? [[String: Any]])?.first)
            #expect(items[0]["id"] as? String == original["id"] as? String)
            #expect(try await TestDatabase(url: direct).seqs("kept") == [1, 2])
            #expect(try await TestDatabase(url: direct).seqs("other") == [1, 2])
        }

        @Test("a connection lost while its batch still runs on the server: the batch is ended there before the answer, which is then 503 with nothing stored, and stays true")
        func lostConnectionWhileTheBatchRuns() async throws {
            let (server, proxy, direct) = try await Self.serverBehindProxy()
            defer { Task { await server.stop() } }
            _ = try await SSETests.publish(server, "slow", "1")
            // From now on a batch to 'slow' runs 2 s on the server; left alone, it would commit then.
            let database = TestDatabase(url: direct)
            _ = try await database.query(
                """
                CREATE FUNCTION public.slow() RETURNS trigger LANGUAGE plpgsql AS $$
                BEGIN
                    IF NEW.topic = 'slow' THEN PERFORM pg_sleep(2); END IF;
                    RETURN NEW;
                END $$
                """
            )
            _ = try await database.query("CREATE TRIGGER slow AFTER INSERT ON herald.notifications FOR EACH ROW EXECUTE FUNCTION public.slow()")
            proxy.cutAfterNextStatement(application: "herald-publish")
            let answer = try await TestHTTP.postJSON("\(server.baseURL)/v1/topics/slow/notifications", #"{"data":2}"#)
            #expect(proxy.hasCut, "the proxy never cut a connection")
            #expect(answer.status == 503, "\(answer.text)")
            #expect(answer.text.contains("nothing was stored"))
            try await Task.sleep(for: .seconds(3))
            #expect(try await database.seqs("slow") == [1])
        }

        @Test("a connection lost during a batch that did not commit is answered 503, saying nothing was stored, and nothing was")
        func lostConnectionWithoutCommit() async throws {
            let server = try await TestServer.start()
            defer { Task { await server.stop() } }
            let database = TestDatabase(url: server.databaseURL)
            // A trigger that ends its own connection while the batch inserts into 'doomed'.
            _ = try await database.query(
                """
                CREATE FUNCTION public.doom() RETURNS trigger LANGUAGE plpgsql AS $$
                BEGIN
                    IF NEW.topic = 'doomed' THEN PERFORM pg_terminate_backend(pg_backend_pid()); END IF;
                    RETURN NEW;
                END $$
                """
            )
            _ = try await database.query("CREATE TRIGGER doom AFTER INSERT ON herald.notifications FOR EACH ROW EXECUTE FUNCTION public.doom()")
            let before = try await database.fingerprint()
            let answer = try await TestHTTP.postJSON("\(server.baseURL)/v1/topics/doomed/notifications", #"{"data":1}"#)
            #expect(answer.status == 503, "\(answer.text)")
            #expect(answer.errorCode == "unavailable")
            #expect(answer.text.contains("nothing was stored"))
            #expect(try await database.seqs("doomed").isEmpty)
            let rows = try await database.query("SELECT count(*) FROM herald.notifications")
            #expect(try rows[0].decode(Int.self, at: 0) == Int(before.split(separator: "/")[0]))
            // The publisher goes on.
            #expect(try await TestHTTP.postJSON("\(server.baseURL)/v1/topics/fine/notifications", #"{"data":1}"#).status == 201)
        }
    }
}
