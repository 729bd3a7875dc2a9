import Foundation
import HeraldCore
import HeraldPostgres
import HeraldServer
import Testing

extension IsolatedTests {
    @Suite("Partition maintenance")
    struct PartitionMaintenanceTests {
        /// The partitions of the log, by name.
        static func partitions(_ database: TestDatabase) async throws -> [String] {
            let rows = try await database.query(
                """
                SELECT c.relname::text FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid
                WHERE i.inhparent = 'herald.notifications'::regclass ORDER BY 1
                """
            )
            return try rows.map { try $0.decode(String.self, at: 0) }
        }

        static func dayName(_ daysFromToday: Int) -> String {
            var calendar = Calendar(identifier: .gregorian)
            calendar.timeZone = TimeZone(identifier: "UTC")!
            let day = calendar.date(byAdding: .day, value: daysFromToday, to: Date())!
            let parts = calendar.dateComponents([.year, .month, .day], from: day)
            return String(format: "notifications_%04d%02d%02d", parts.year!, parts.month!, parts.day!)
        }

        @Test("partitions are created a week ahead and expired ones dropped, while publishing goes on without a stall, even with an old transaction still reading the log")
        func createsAndDropsWithoutStall() async throws {
            let server = try await TestServer.start { $0.server.retention = .seconds(2 * 86400) }
            defer { Task { await server.stop() } }
            let database = TestDatabase(url: server.databaseURL)
            for day in 0...7 { #expect(try await Self.partitions(database).contains(Self.dayName(day)), "no partition \(day) days ahead") }

            // History from ten days ago, in partitions of its own (as a week-old Herald left it).
            _ = try await database.query("SELECT herald.ensure_partitions((now() AT TIME ZONE 'UTC')::date - 10, 3)")
            _ = try await database.query(
                """
                INSERT INTO herald.notifications (topic, seq, event, data, created_at, size)
                VALUES ('old', 1, 'message', '1', now() - interval '10 days', 1)
                """
            )
            #expect(try await Self.partitions(database).contains(Self.dayName(-10)))

            // Publishing goes on all along, each publish timed.
            let url = server.baseURL
            let publishing = Task {
                var slowest = Duration.zero
                var failures = 0
                var index = 0
                while !Task.isCancelled {
                    let start = ContinuousClock.now
                    do {
                        let answer = try await TestHTTP.postJSON("\(url)/v1/topics/live/notifications", #"{"data":\#(index)}"#)
                        slowest = max(slowest, ContinuousClock.now - start)
                        if answer.status != 201 { failures += 1 }
                        index += 1
                    } catch {
                        if !Task.isCancelled { failures += 1 }
                    }
                    try? await Task.sleep(for: .milliseconds(10))
                }
                return (slowest, failures, index)
            }
            // Maintenance with short limits, as a test can wait for.
            let maintenancePool = PostgresPool(
                configuration: .init(
                    connectionString: server.databaseURL, maximumConnections: 1,
                    sessionSettings: [("statement_timeout", "3s"), ("lock_timeout", "2s")]
                )
            )
            defer { maintenancePool.shutdown() }
            let maintenance = PartitionMaintenance(pool: maintenancePool, retention: .seconds(2 * 86400))
            try await IsolatedTests.StuckDatabaseTests.holding(server.databaseURL, ["SELECT count(*) FROM herald.notifications"]) {
                // An old transaction reads the log: dropping a partition the old way would wait
                // for it with every publish queued behind.
                try await Task.sleep(for: .milliseconds(300))
                _ = try await maintenance.runOnce()
                try await Task.sleep(for: .milliseconds(300))
            }
            // That reader gone, the rest is finished.
            let outcome = try await maintenance.runOnce()
            try await Task.sleep(for: .milliseconds(300))
            publishing.cancel()
            let (slowest, failures, count) = await publishing.value
            #expect(failures == 0)
            #expect(count > 20)
            #expect(slowest < .seconds(1), "a publish waited \(slowest) during maintenance")
            let remaining = try await Self.partitions(database)
            for day in -10...(-8) { #expect(!remaining.contains(Self.dayName(day)), "\(Self.dayName(day)) was not dropped") }
            #expect(outcome.dropped >= 1)
            let tables = try await database.query("SELECT count(*) FROM pg_class WHERE relname LIKE 'notifications_2%' AND relkind = 'r'")
            #expect(try tables[0].decode(Int.self, at: 0) == remaining.count, "a detached table was left behind")
            #expect(try await database.seqs("old").isEmpty)
            #expect(try await database.seqs("live").count >= count)
        }

        @Test("a publish that finds no partition for its day (maintenance did not run) creates it and commits")
        func missingPartitionIsCreated() async throws {
            let server = try await TestServer.start()
            defer { Task { await server.stop() } }
            let database = TestDatabase(url: server.databaseURL)
            _ = try await SSETests.publish(server, "gap", "1")
            // Today's partition goes (as if maintenance had not run for a week).
            let today = Self.dayName(0)
            _ = try await database.query(PostgresQuery(stringLiteral: "ALTER TABLE herald.notifications DETACH PARTITION herald.\(today)"))
            _ = try await database.query(PostgresQuery(stringLiteral: "DROP TABLE herald.\(today)"))
            let answer = try await TestHTTP.postJSON("\(server.baseURL)/v1/topics/gap/notifications", #"{"data":2}"#)
            #expect(answer.status == 201, "\(answer.text)")
            #expect(try await Self.partitions(database).contains(today))
        }
    }
}
