import Foundation
import HeraldCore
import HeraldPostgres
import HeraldServer
import Testing

@Suite("Publishing from SQL")
struct SQLPublishTests {
    /// A producer's session of its own on `url`: one connection, as an application's.
    static func producer(_ url: String, _ name: String = "producer") -> PostgresPool {
        PostgresPool(configuration: .init(connectionString: url, maximumConnections: 1, applicationName: name))
    }

    /// Runs `sql` on `connection`, returning the first column of its one row as a seq.
    static func seq(_ connection: PostgresConnection, _ query: PostgresQuery) async throws -> Int64 {
        let rows = try await connection.query(query)
        return try rows[0].decode(Int64.self, at: 0)
    }

    @Test("a producer transaction that writes its own row, calls herald.publish_one and rolls back publishes nothing and leaves no gap: its row is gone and the next publish gets the next seq")
    func rollbackPublishesNothing() async throws {
        let server = try await TestServer.start()
        defer { Task { await server.stop() } }
        let database = TestDatabase(url: server.databaseURL)
        let producer = Self.producer(server.databaseURL)
        defer { producer.shutdown() }
        try await producer.query("CREATE TABLE orders (id int PRIMARY KEY, total numeric NOT NULL)")
        #expect(try await SSETests.publish(server, "orders", #"{"id":1}"#) == 1)
        let stream = try await SSEClient.open("\(server.baseURL)/v1/sse?topics=orders&after=orders:1")
        defer { stream.close() }
        #expect(stream.status == 200)

        let attempted = try await producer.withConnection { connection in
            try await connection.query("BEGIN")
            try await connection.query("INSERT INTO orders VALUES (2, 9.99)")
            let seq = try await Self.seq(connection, PostgresQuery("SELECT herald.publish_one('orders', $1::jsonb)", #"{"id":2}"#))
            try await connection.query("ROLLBACK")
            return seq
        }
        #expect(attempted == 2)
        #expect(try await database.seqs("orders") == [1])
        let rows = try await database.query("SELECT count(*) FROM orders")
        #expect(try rows[0].decode(Int.self, at: 0) == 0)

        // The next publish, through the server, takes 2: no gap.
        #expect(try await SSETests.publish(server, "orders", #"{"id":3}"#) == 2)
        #expect(try await database.seqs("orders") == [1, 2])
        let event = try #require(await stream.next(timeout: .seconds(20)))
        #expect(event.seq == 2)
        #expect((event.json["data"] as? [String: Any])?["id"] as? Int == 3, "the rolled-back notification reached a subscriber: \(event.data)")
        let topic = try await TestHTTP.get("\(server.baseURL)/v1/topics/orders")
        #expect(topic.json["last_seq"] as? Int == 2)
        #expect(topic.json["count"] as? Int == 2)
    }

    @Test("a producer transaction that commits is delivered live to a connected SSE subscriber, with the seq herald.publish_one returned, and only once committed")
    func commitIsDeliveredLive() async throws {
        let server = try await TestServer.start()
        defer { Task { await server.stop() } }
        let producer = Self.producer(server.databaseURL)
        defer { producer.shutdown() }
        try await producer.query("CREATE TABLE invoices (id int PRIMARY KEY, paid boolean NOT NULL)")
        let stream = try await SSEClient.open("\(server.baseURL)/v1/sse?topics=invoices&after=invoices:0")
        defer { stream.close() }
        #expect(stream.status == 200)

        let seq = try await producer.withConnection { connection in
            try await connection.query("BEGIN")
            try await connection.query("INSERT INTO invoices VALUES (7, true)")
            let seq = try await Self.seq(
                connection, PostgresQuery("SELECT herald.publish_one('invoices', $1::jsonb, 'invoice.paid', 3600)", #"{"invoice":7}"#)
            )
            // Not committed: nothing is delivered yet.
            let early = await stream.next(timeout: .seconds(1))
            #expect(early == nil, "delivered before the commit: \(early?.data ?? "")")
            try await connection.query("COMMIT")
            return seq
        }
        #expect(seq == 1)
        let event = try #require(await stream.next(timeout: .seconds(20)))
        #expect(event.seq.map(Int64.init) == seq)
        #expect(event.event == "invoice.paid")
        #expect(event.json["event"] as? String == "invoice.paid")
        #expect((event.json["data"] as? [String: Any])?["invoice"] as? Int == 7)
        #expect(event.id == "invoices:1")

        // Stored with the producer's row, the ttl as given.
        let database = TestDatabase(url: server.databaseURL)
        let stored = try await database.query(
            "SELECT extract(epoch FROM expires_at - created_at)::int, (SELECT count(*) FROM invoices) FROM herald.notifications WHERE topic = 'invoices'"
        )
        #expect(try stored[0].decode(Int.self, at: 0) == 3600)
        #expect(try stored[0].decode(Int.self, at: 1) == 1)

        // The defaults: event 'message' (also for a NULL event), no expiry; and the next seq.
        let (second, third) = try await producer.withConnection { connection in
            (
                try await Self.seq(connection, PostgresQuery("SELECT herald.publish_one('invoices', '\"two\"')")),
                try await Self.seq(connection, PostgresQuery("SELECT herald.publish_one('invoices', '3', NULL)"))
            )
        }
        #expect((second, third) == (2, 3))
        let next = try #require(await stream.next(timeout: .seconds(20)))
        #expect(next.seq == 2)
        #expect(next.event == "message")
        #expect(next.json["data"] as? String == "two")
        let last = try #require(await stream.next(timeout: .seconds(20)))
        #expect(last.seq == 3)
        #expect(last.event == "message")
        let fetched = try await TestHTTP.get("\(server.baseURL)/v1/topics/invoices/notifications/2")
        #expect(fetched.status == 200)
        #expect(fetched.json["data"] as? String == "two")
        let expiry = try await database.query("SELECT count(*) FROM herald.notifications WHERE topic = 'invoices' AND expires_at IS NULL")
        #expect(try expiry[0].decode(Int.self, at: 0) == 2)
    }

    @Test("herald.publish_one and herald.publish check what the server does: a bad topic, event, NULL data, a ttl below 1 or data that is not JSON (as jsonb takes it) raise 22023 with the error code first, and publish nothing")
    func badNamesRaise() async throws {
        let server = try await TestServer.start()
        defer { Task { await server.stop() } }
        let database = TestDatabase(url: server.databaseURL)
        #expect(try await SSETests.publish(server, "good", "1") == 1)
        let fingerprint = try await database.fingerprint()
        let producer = Self.producer(server.databaseURL)
        defer { producer.shutdown() }
        try await producer.query("CREATE TABLE outbox (id int)")

        let longest = String(repeating: "t", count: 128)
        let cases: [(PostgresQuery, String)] = [
            (PostgresQuery("SELECT herald.publish_one('bad topic', '1')"), "invalid_topic:"),
            (PostgresQuery("SELECT herald.publish_one($1, '1')", longest + "t"), "invalid_topic:"),
            (PostgresQuery("SELECT herald.publish_one('-dash', '1')"), "invalid_topic:"),
            (PostgresQuery("SELECT herald.publish_one(NULL, '1')"), "invalid_topic:"),
            (PostgresQuery("SELECT herald.publish_one('good', '1', 'bad event!')"), "invalid_event:"),
            (PostgresQuery("SELECT herald.publish_one('good', '1', '')"), "invalid_event:"),
            (PostgresQuery("SELECT herald.publish_one('good', NULL)"), "missing_data:"),
            (PostgresQuery("SELECT herald.publish_one('good', '1', 'message', 0)"), "invalid_body:"),
            (PostgresQuery("SELECT herald.publish_one('good', '1', 'message', -5)"), "invalid_body:"),
            // herald.publish takes data as text (stored as sent): it must be JSON that jsonb takes.
            (PostgresQuery(#"SELECT p.seq FROM herald.publish(ARRAY['good'], ARRAY[NULL], ARRAY['{"a":'], ARRAY[NULL::int], ARRAY[NULL]) p"#), "invalid_json:"),
            (PostgresQuery("SELECT p.seq FROM herald.publish(ARRAY['good'], ARRAY[NULL], ARRAY['1e131072'], ARRAY[NULL::int], ARRAY[NULL]) p"), "invalid_json:"),
            (PostgresQuery(#"SELECT p.seq FROM herald.publish(ARRAY['good'], ARRAY[NULL], ARRAY['"\u0000"'], ARRAY[NULL::int], ARRAY[NULL]) p"#), "invalid_json:"),
        ]
        for (query, code) in cases {
            // In a producer's transaction, with a row of its own before.
            let error = await #expect(throws: PostgresError.self, "\(query.sql)") {
                try await producer.withTransaction { connection in
                    try await connection.query("INSERT INTO outbox VALUES (1)")
                    return try await Self.seq(connection, query)
                }
            }
            #expect(error?.sqlState == "22023", "\(query.sql): \(String(describing: error))")
            #expect(error?.message.hasPrefix(code) == true, "\(query.sql): \(error?.message ?? "")")
        }
        #expect(try await database.fingerprint() == fingerprint)
        let outbox = try await database.query("SELECT count(*) FROM outbox")
        #expect(try outbox[0].decode(Int.self, at: 0) == 0)
        let topics = try await TestHTTP.get("\(server.baseURL)/v1/topics")
        #expect((topics.json["topics"] as? [[String: Any]])?.map { $0["name"] as? String } == ["good"])

        // The longest name is fine, and nothing refused took a seq.
        let accepted = try await producer.withConnection { connection in
            (
                try await Self.seq(connection, PostgresQuery("SELECT herald.publish_one($1, '1')", longest)),
                try await Self.seq(connection, PostgresQuery("SELECT herald.publish_one('good', '2', 'a.b:c-d_e', 1)"))
            )
        }
        #expect(accepted == (1, 2))
        #expect(try await database.seqs("good") == [1, 2])
    }

    @Test("herald.publish_one works on a database that only `herald migrate` prepared, and where no partition is left for today (no server ran for a week)")
    func publishOneAfterMigrateOnly() async throws {
        let url = try await TestCluster.shared.makeDatabase()
        let migrated = try await HeraldProcess.run(["migrate", "--database-url", url])
        #expect(migrated.status == 0, "\(migrated.output)")
        let producer = Self.producer(url)
        defer { producer.shutdown() }
        let first = try await producer.withConnection { try await Self.seq($0, "SELECT herald.publish_one('first', '1')") }
        #expect(first == 1)
        // No partition at all: herald.publish creates them, as the server's publisher does.
        let database = TestDatabase(url: url)
        _ = try await database.query(
            """
            DO $$ DECLARE p text; BEGIN
                FOR p IN SELECT c.relname FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid
                         WHERE i.inhparent = 'herald.notifications'::regclass LOOP
                    EXECUTE format('DROP TABLE herald.%I', p);
                END LOOP;
            END $$
            """
        )
        let second = try await producer.withConnection { try await Self.seq($0, "SELECT herald.publish_one('first', '2')") }
        #expect(second == 2)
        #expect(try await database.seqs("first") == [2])
    }

    @Test("REST and SQL publishers on one topic at once: every seq from 1 to the number published is there exactly once, and each notification once")
    func concurrentRESTAndSQL() async throws {
        let server = try await TestServer.start()
        defer { Task { await server.stop() } }
        let url = server.databaseURL
        let base = server.baseURL
        let tasks = 4
        let each = 50
        let returned = try await withThrowingTaskGroup(of: [Int64].self) { group in
            for task in 0..<tasks {
                group.addTask {
                    var seqs: [Int64] = []
                    for index in 0..<each {
                        // A publish refused as unavailable stored nothing (its answer says so):
                        // retried, as a client does; each (task, index) must be stored once.
                        // (On a loaded machine the SQL producers, taking the topic's row one
                        // after another, can keep a REST publish out for all of
                        // --publish-timeout: the server's publisher probes held topics with
                        // SKIP LOCKED instead of queueing for the lock.)
                        var attempts = 0
                        while true {
                            attempts += 1
                            let answer = try await TestHTTP.postJSON(
                                "\(base)/v1/topics/mixed/notifications", #"{"data":{"via":"rest","task":\#(task),"index":\#(index)}}"#
                            )
                            if answer.status == 201, let seq = answer.json["seq"] as? Int {
                                seqs.append(Int64(seq))
                                break
                            }
                            guard answer.status == 503, answer.errorCode == "unavailable", attempts < 20 else {
                                throw TestFailure("REST publish \(task)/\(index): \(answer.status) \(answer.text)")
                            }
                            try await Task.sleep(for: .milliseconds(100))
                        }
                    }
                    return seqs
                }
                group.addTask {
                    let producer = Self.producer(url, "sql-producer-\(task)")
                    defer { producer.shutdown() }
                    var seqs: [Int64] = []
                    for index in 0..<each {
                        seqs.append(
                            try await producer.withTransaction { connection in
                                try await Self.seq(
                                    connection,
                                    PostgresQuery(
                                        "SELECT herald.publish_one('mixed', $1::jsonb)", #"{"via":"sql","task":\#(task),"index":\#(index)}"#
                                    )
                                )
                            }
                        )
                    }
                    return seqs
                }
            }
            return try await group.reduce(into: []) { $0 += $1 }
        }
        let total = 2 * tasks * each
        #expect(returned.count == total)
        #expect(returned.sorted() == (1...Int64(total)).map { $0 }, "the seqs returned repeat or skip")
        #expect(try await TestDatabase(url: url).seqs("mixed") == (1...Int64(total)).map { $0 })
        let split = try await TestDatabase(url: url).query(
            "SELECT data->>'via', count(DISTINCT (data->>'task', data->>'index')) FROM herald.notifications WHERE topic = 'mixed' GROUP BY 1 ORDER BY 1"
        )
        #expect(try split.map { try $0.decode(String.self, at: 0) } == ["rest", "sql"])
        #expect(try split.map { try $0.decode(Int.self, at: 1) } == [tasks * each, tasks * each])
        let topic = try await TestHTTP.get("\(server.baseURL)/v1/topics/mixed")
        #expect(topic.json["last_seq"] as? Int == total)
    }
}
