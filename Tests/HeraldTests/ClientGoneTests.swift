import Foundation
import HeraldCore
import HeraldServer
import Testing

@Suite("Clients that go away")
struct ClientGoneTests {
    @Test("a client that closes its side of an SSE stream or a WebSocket is let go at once, not at the next heartbeat")
    func closedClientsAreLetGo() async throws {
        // A long heartbeat: only noticing the close itself can let them go in time.
        let server = try await TestServer.start { $0.server.heartbeat = .seconds(60) }
        defer { Task { await server.stop() } }
        let sse = try await RawWebSocket.connect(port: server.port, path: "/v1/sse?topics=gone", headers: ["Accept: text/event-stream"])
        defer { sse.close() }
        let ws = try await RawWebSocket.connect(port: server.port, path: "/v1/ws?topics=gone")
        defer { ws.close() }
        #expect(sse.status == 200)
        #expect(ws.status == 101)
        let hub = server.instance.hub
        let subscribed = ContinuousClock.now + .seconds(5)
        while hub.subscriptionCount < 2, ContinuousClock.now < subscribed { try await Task.sleep(for: .milliseconds(20)) }
        #expect(hub.subscriptionCount == 2)

        sse.shutdownWrite()
        ws.shutdownWrite()
        #expect(await sse.closedByServer(timeout: 5), "the SSE connection stayed open")
        #expect(await ws.closedByServer(timeout: 5), "the WebSocket stayed open")
        let released = ContinuousClock.now + .seconds(5)
        while hub.subscriptionCount > 0, ContinuousClock.now < released { try await Task.sleep(for: .milliseconds(20)) }
        #expect(hub.subscriptionCount == 0, "the subscriptions outlived their connections")
    }
}
