import Foundation
import HeraldPostgres
import Testing

@Suite("HeraldPostgres: LISTEN connection")
struct PostgresListenerTests {
    @Test("LISTEN receives NOTIFY")
    func receivesNotify() async throws {
        let url = try await TestCluster.shared.makeDatabase()
        let listener = PostgresListener(connectionString: url, channels: ["herald_test"])
        listener.start()
        defer { listener.stop() }
        var events = listener.events.makeAsyncIterator()
        guard case .connected = await events.next() else {
            Issue.record("expected .connected first")
            return
        }
        let pool = PostgresPool(configuration: .init(connectionString: url))
        defer { pool.shutdown() }
        try await pool.query(PostgresQuery("SELECT pg_notify('herald_test', $1)", "orders:42"))
        try await pool.query(PostgresQuery("SELECT pg_notify('other_channel', $1)", "ignored"))
        try await pool.query(PostgresQuery("SELECT pg_notify('herald_test', $1)", "orders:43"))
        var payloads: [String] = []
        while payloads.count < 2, let event = await events.next() {
            if case .notification(let notification) = event {
                #expect(notification.channel == "herald_test")
                payloads.append(notification.payload)
            }
        }
        #expect(payloads == ["orders:42", "orders:43"])
        #expect(listener.isListening)
    }

    @Test("the LISTEN connection reconnects after pg_terminate_backend and says so")
    func reconnects() async throws {
        let url = try await TestCluster.shared.makeDatabase()
        let listener = PostgresListener(connectionString: url, channels: ["herald_test"])
        listener.start()
        defer { listener.stop() }
        var events = listener.events.makeAsyncIterator()
        guard case .connected = await events.next() else {
            Issue.record("expected .connected first")
            return
        }
        let firstPID = listener.backendPID
        let pool = PostgresPool(configuration: .init(connectionString: url))
        defer { pool.shutdown() }
        try await pool.query(PostgresQuery("SELECT pg_terminate_backend($1)", Int(firstPID)))
        var sawDisconnect = false
        var sawReconnect = false
        while !sawReconnect, let event = await events.next() {
            switch event {
            case .disconnected: sawDisconnect = true
            case .connected: sawReconnect = true
            case .notification, .missed: break
            }
        }
        #expect(sawDisconnect)
        #expect(listener.isListening)
        #expect(listener.backendPID != firstPID)
        try await pool.query(PostgresQuery("SELECT pg_notify('herald_test', 'after')"))
        if case .notification(let notification) = await events.next() {
            #expect(notification.payload == "after")
        } else {
            Issue.record("expected a notification after the reconnect")
        }
    }

    @Test("a consumer that fell behind gets .missed once it catches up, even when no notification follows")
    func missedWithoutAFollowingNotification() async throws {
        let url = try await TestCluster.shared.makeDatabase()
        let listener = PostgresListener(connectionString: url, channels: ["herald_test"], bufferSize: 4)
        listener.start()
        defer { listener.stop() }
        let deadline = ContinuousClock.now + .seconds(20)
        while !listener.isListening, ContinuousClock.now < deadline { try await Task.sleep(for: .milliseconds(10)) }
        let pool = PostgresPool(configuration: .init(connectionString: url))
        defer { pool.shutdown() }
        // Ten notifications into a buffer of four that nobody reads: most are dropped.
        for index in 1...10 { try await pool.query(PostgresQuery("SELECT pg_notify('herald_test', $1)", "t:\(index)")) }
        try await Task.sleep(for: .milliseconds(300))
        // Now the consumer reads, and nothing more is published.
        var events = listener.events.makeAsyncIterator()
        var received: [String] = []
        var missed = false
        let reading = Task {
            try await Task.sleep(for: .seconds(3))
            listener.stop()
        }
        defer { reading.cancel() }
        while !missed, let event = await events.next() {
            switch event {
            case .notification(let notification): received.append(notification.payload)
            case .missed: missed = true
            case .connected, .disconnected: break
            }
        }
        #expect(missed, "the consumer was never told it missed notifications")
        #expect(received.count < 10)
        #expect(received == (0..<received.count).map { "t:\($0 + 1)" })
    }
}
