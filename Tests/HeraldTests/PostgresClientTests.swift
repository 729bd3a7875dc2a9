import Foundation
import HeraldPostgres
import Testing

@Suite("HeraldPostgres: libpq client")
struct PostgresClientTests {
    @Test("parameters with quotes, unicode and NULL round-trip")
    func parametersRoundTrip() async throws {
        let pool = PostgresPool(configuration: .init(connectionString: try await TestCluster.shared.makeDatabase()))
        defer { pool.shutdown() }
        let tricky = "it's \"quoted\"; DROP TABLE x; -- \\ back\\slash 🎉 Grüße ✓ 日本語"
        let rows = try await pool.query(
            PostgresQuery("SELECT $1::text AS a, $2::text AS b, $3::int8 AS c, $4::bool AS d", tricky, nil, Int64.max, true)
        )
        #expect(rows.count == 1)
        #expect(try rows[0].decode(String.self, named: "a") == tricky)
        #expect(try rows[0].decode(String?.self, named: "b") == nil)
        #expect(try rows[0].decode(Int64.self, named: "c") == Int64.max)
        #expect(try rows[0].decode(Bool.self, named: "d") == true)
        // A NULL into a non-optional is an error, not a made-up value.
        #expect(throws: PostgresError.self) { try rows[0].decode(String.self, named: "b") }
    }

    @Test("arrays of text, int8, int4 and NULL elements round-trip")
    func arraysRoundTrip() async throws {
        let pool = PostgresPool(configuration: .init(connectionString: try await TestCluster.shared.makeDatabase()))
        defer { pool.shutdown() }
        let texts: [String?] = ["a,b", "{x}", nil, "\"q\"", "", "é"]
        let rows = try await pool.query(
            PostgresQuery(
                "SELECT t, n, i FROM unnest($1::text[], $2::int8[], $3::int4[]) WITH ORDINALITY AS u(t, n, i, o) ORDER BY o",
                texts, [Int64(1), 2, 3, 4, 5, -6] as [Int64], [Int32?](arrayLiteral: 1, nil, 3, 4, 5, 6)
            )
        )
        #expect(rows.count == texts.count)
        #expect(try rows.map { try $0.decode(String?.self, at: 0) } == texts)
        #expect(try rows.map { try $0.decode(Int64.self, at: 1) } == [1, 2, 3, 4, 5, -6])
        #expect(try rows.map { try $0.decode(Int32?.self, at: 2) } == [1, nil, 3, 4, 5, 6])
        let empty = try await pool.query(PostgresQuery("SELECT cardinality($1::text[])", [String]()))
        #expect(try empty[0].decode(Int.self, at: 0) == 0)
    }

    @Test("jsonb, timestamptz and uuid decode")
    func typesDecode() async throws {
        let pool = PostgresPool(configuration: .init(connectionString: try await TestCluster.shared.makeDatabase()))
        defer { pool.shutdown() }
        let id = UUID()
        let rows = try await pool.query(
            PostgresQuery(
                """
                SELECT $1::jsonb AS j, '2026-11-24 10:00:00.123456+00'::timestamptz AS t, $2::uuid AS u,
                       '1969-12-31 23:59:59.999+00'::timestamptz AS before_epoch
                """,
                #"{"b": [1, 2.5, null], "a": "x\"y"}"#, id
            )
        )
        let json = try rows[0].decode(String.self, named: "j")
        let object = try JSONSerialization.jsonObject(with: Data(json.utf8)) as? [String: Any]
        #expect(object?["a"] as? String == "x\"y")
        let time = try rows[0].decode(PostgresTimestamp.self, named: "t")
        #expect(time.rfc3339 == "2026-11-24T10:00:00.123Z")
        #expect(time.microsecondsSinceEpoch == 1_795_514_400_123_456)
        #expect(try rows[0].decode(PostgresTimestamp.self, named: "before_epoch").rfc3339 == "1969-12-31T23:59:59.999Z")
        #expect(try rows[0].decode(UUID.self, named: "u") == id)
        // A timestamp sent as a parameter comes back unchanged.
        let echoed = try await pool.query(PostgresQuery("SELECT $1::timestamptz", time))
        #expect(try echoed[0].decode(PostgresTimestamp.self, at: 0) == time)
    }

    @Test("a unique violation carries SQLSTATE 23505 and the server's message")
    func uniqueViolation() async throws {
        let pool = PostgresPool(configuration: .init(connectionString: try await TestCluster.shared.makeDatabase()))
        defer { pool.shutdown() }
        try await pool.query("CREATE TABLE t (k text PRIMARY KEY)")
        try await pool.query(PostgresQuery("INSERT INTO t VALUES ($1)", "one"))
        let error = await #expect(throws: PostgresError.self) {
            try await pool.query(PostgresQuery("INSERT INTO t VALUES ($1)", "one"))
        }
        #expect(error?.sqlState == PostgresError.uniqueViolation)
        #expect(error?.kind == .server)
        #expect(error?.message.contains("duplicate key") == true)
        #expect(error?.isUnavailable == false)
        // The connection stays usable after a statement error.
        let count = try await pool.query("SELECT count(*) FROM t")
        #expect(try count[0].decode(Int.self, at: 0) == 1)
    }

    @Test("transactions commit, and roll back when the body throws")
    func transactions() async throws {
        let pool = PostgresPool(configuration: .init(connectionString: try await TestCluster.shared.makeDatabase()))
        defer { pool.shutdown() }
        try await pool.query("CREATE TABLE t (k int)")
        _ = try await pool.withTransaction { try await $0.query("INSERT INTO t VALUES (1)") }
        struct Abort: Error {}
        await #expect(throws: Abort.self) {
            try await pool.withTransaction { connection in
                try await connection.query("INSERT INTO t VALUES (2)")
                throw Abort()
            }
        }
        let rows = try await pool.query("SELECT array_agg(k)::text FROM t")
        #expect(try rows[0].decode(String.self, at: 0) == "{1}")
    }

    @Test("a pool at its limit makes callers wait, not fail")
    func poolWaits() async throws {
        let pool = PostgresPool(configuration: .init(connectionString: try await TestCluster.shared.makeDatabase(), maximumConnections: 2))
        defer { pool.shutdown() }
        let started = Date()
        // 8 statements that each hold a connection for 0.3 s, on 2 connections.
        try await withThrowingTaskGroup(of: Void.self) { group in
            for _ in 0..<8 {
                group.addTask { try await pool.query("SELECT pg_sleep(0.3)") }
            }
            try await Task.sleep(for: .milliseconds(100))
            #expect(pool.size == 2)
            #expect(pool.waiting >= 5)
            try await group.waitForAll()
        }
        // Four rounds of two: they really waited for each other.
        #expect(Date().timeIntervalSince(started) >= 1.1)
        #expect(pool.size == 2)
        #expect(pool.waiting == 0)
    }

    @Test("a pooled connection killed by pg_terminate_backend is replaced")
    func killedConnectionIsReplaced() async throws {
        let url = try await TestCluster.shared.makeDatabase()
        let pool = PostgresPool(configuration: .init(connectionString: url, maximumConnections: 1))
        defer { pool.shutdown() }
        let pid = try await pool.withConnection { try await $0.backendPID() }
        let admin = PostgresPool(configuration: .init(connectionString: url, maximumConnections: 1))
        defer { admin.shutdown() }
        let killed = try await admin.query(PostgresQuery("SELECT pg_terminate_backend($1)", Int(pid)))
        #expect(try killed[0].decode(Bool.self, at: 0))
        try await Task.sleep(for: .milliseconds(200))
        // The next statement runs on a new connection without an error.
        let rows = try await pool.query("SELECT pg_backend_pid()")
        let newPID = try rows[0].decode(Int32.self, at: 0)
        #expect(newPID != pid)
        #expect(pool.size == 1)
    }

    @Test("a statement that fails because the connection broke reports a connection error, and the next one reconnects")
    func brokenMidStatement() async throws {
        let url = try await TestCluster.shared.makeDatabase()
        let pool = PostgresPool(configuration: .init(connectionString: url, maximumConnections: 1))
        defer { pool.shutdown() }
        let pid = try await pool.withConnection { try await $0.backendPID() }
        let admin = PostgresPool(configuration: .init(connectionString: url, maximumConnections: 1))
        defer { admin.shutdown() }
        let sleeping = Task { try await pool.query("SELECT pg_sleep(5)") }
        try await Task.sleep(for: .milliseconds(300))
        try await admin.query(PostgresQuery("SELECT pg_terminate_backend($1)", Int(pid)))
        let error = await #expect(throws: PostgresError.self) { try await sleeping.value }
        #expect(error?.isUnavailable == true)
        let rows = try await pool.query("SELECT 1")
        #expect(try rows[0].decode(Int.self, at: 0) == 1)
    }

    @Test("an unreachable server is a connection error")
    func unreachable() async throws {
        let pool = PostgresPool(configuration: .init(connectionString: "host=/nonexistent-herald port=1 dbname=x connect_timeout=2"))
        defer { pool.shutdown() }
        let error = await #expect(throws: PostgresError.self) { try await pool.query("SELECT 1") }
        #expect(error?.kind == .connection)
        #expect(error?.isUnavailable == true)
    }
}
