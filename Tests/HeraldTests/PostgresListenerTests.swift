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
}
