import Foundation
import HeraldCore
import NIOHTTP1
import Testing

@Suite("Metrics and request logs")
struct MetricsAndLogTests {
    /// `value` of the series `name{labels}` in Prometheus text, if it is there.
    static func value(_ text: String, _ series: String) -> Double? {
        for line in text.split(separator: "\n") where line.hasPrefix(series + " ") {
            return Double(line.split(separator: " ").last ?? "")
        }
        return nil
    }

    @Test("/metrics shows each series after matching traffic")
    func series() async throws {
        let url = try await TestCluster.shared.makeDatabase()
        let server = try HeraldProcess(["serve", "--port", "0", "--database-url", url, "--publish-rate", "1", "--publish-burst", "4"])
        defer { server.signal(SIGTERM) }
        let base = "http://127.0.0.1:\(try await server.listeningPort())"
        #expect(try await TestHTTP.becomesReady(base))
        // Traffic of every kind: publishes (single, batch, WebSocket), a poll, a long-poll,
        // an SSE stream and a WebSocket subscriber that receive, a body too large, and a
        // publish over the rate.
        let sse = try await SSEClient.open("\(base)/v1/sse?topics=m&client=s1")
        let socket = TestWebSocket.connect("ws://\(base.dropFirst(7))/v1/ws?topics=m")
        _ = await socket.next(type: "subscribed")
        #expect(try await TestHTTP.request(.POST, "\(base)/v1/topics/m/notifications", body: Array("1".utf8)).status == 201)
        #expect(try await TestHTTP.postJSON("\(base)/v1/notifications", #"{"notifications":[{"topic":"m","data":2}]}"#).status == 201)
        #expect(await sse.next()?.topic == "m")
        #expect(await socket.next(type: "notification") != nil)
        #expect(try await TestHTTP.get("\(base)/v1/poll?topics=m&after=m:0").status == 200)
        #expect(try await TestHTTP.get("\(base)/v1/poll?topics=m&after=m:2&wait=0.2").status == 200)
        #expect(try await TestHTTP.request(.POST, "\(base)/v1/topics/m/notifications", body: Array(repeating: 0x61, count: 70_000)).status == 413)
        var statuses: [Int] = []
        // Until one is refused (the bucket refills one a second; a loaded machine is slow).
        while !statuses.contains(429), statuses.count < 200 {
            statuses.append(try await TestHTTP.request(.POST, "\(base)/v1/topics/r/notifications", body: [0x31]).status)
        }
        #expect(statuses.contains(429))
        let text = try await TestHTTP.get("\(base)/metrics").text
        for name in [
            "herald_published_notifications_total", "herald_publish_transaction_items", "herald_subscriber_overflows_total",
            "herald_http_requests_total", "herald_publish_latency_seconds", "herald_open_connections", "herald_live_subscribers",
            "herald_deliveries_total", "herald_catchup_reads_total", "herald_listener_reconnects_total",
            "herald_pool_connections_in_use", "herald_pool_waiters", "herald_partitions_created_total",
            "herald_partitions_dropped_total", "herald_limit_refusals_total",
        ] {
            #expect(text.contains("# TYPE \(name) "), "/metrics lacks \(name)")
        }
        // (Every client here is 127.0.0.1: one bucket of 4, the first two spent above.)
        #expect(
            Self.value(text, #"herald_http_requests_total{route="/v1/topics/{topic}/notifications",status="201"}"#)
                == Double(1 + statuses.filter { $0 == 201 }.count)
        )
        #expect(
            Self.value(text, #"herald_http_requests_total{route="/v1/topics/{topic}/notifications",status="429"}"#)
                == Double(statuses.filter { $0 == 429 }.count)
        )
        #expect(Self.value(text, #"herald_http_requests_total{route="/v1/notifications",status="201"}"#) == 1)
        #expect(Self.value(text, #"herald_http_requests_total{route="/v1/poll",status="200"}"#) == 2)
        #expect(Self.value(text, #"herald_http_requests_total{route="/v1/sse",status="200"}"#) == 1)
        #expect(Self.value(text, #"herald_http_requests_total{route="/v1/ws",status="101"}"#) == 1)
        #expect(Self.value(text, #"herald_open_connections{transport="sse"}"#) == 1)
        #expect(Self.value(text, #"herald_open_connections{transport="websocket"}"#) == 1)
        #expect(Self.value(text, #"herald_live_subscribers{transport="sse"}"#) == 1)
        #expect(Self.value(text, #"herald_live_subscribers{transport="websocket"}"#) == 1)
        #expect((Self.value(text, #"herald_deliveries_total{transport="sse"}"#) ?? 0) >= 1)
        #expect((Self.value(text, #"herald_deliveries_total{transport="websocket"}"#) ?? 0) >= 1)
        #expect(Self.value(text, #"herald_deliveries_total{transport="poll"}"#) == 2)
        #expect(Self.value(text, #"herald_limit_refusals_total{limit="payload_size"}"#) == 1)
        #expect((Self.value(text, #"herald_limit_refusals_total{limit="publish_rate"}"#) ?? 0) >= 1)
        #expect((Self.value(text, #"herald_partitions_created_total"#) ?? 0) >= 1)
        #expect((Self.value(text, #"herald_publish_latency_seconds_count"#) ?? 0) >= 2)
        #expect(Self.value(text, #"herald_pool_waiters{pool="publish"}"#) == 0)
        sse.close()
        socket.close()
    }

    @Test("one log line per request with its id, echoed as X-Request-Id; an id a proxy sends is kept")
    func requestLog() async throws {
        let url = try await TestCluster.shared.makeDatabase()
        let server = try HeraldProcess(["serve", "--port", "0", "--database-url", url])
        defer { server.signal(SIGTERM) }
        let base = "http://127.0.0.1:\(try await server.listeningPort())"
        #expect(try await TestHTTP.becomesReady(base))
        let published = try await TestHTTP.request(.POST, "\(base)/v1/topics/l/notifications", body: Array("1".utf8))
        let fromProxy = try await TestHTTP.request(.GET, "\(base)/v1/poll?topics=l", headers: [("X-Request-Id", "proxy-42.a_b")])
        let notFound = try await TestHTTP.get("\(base)/nowhere")
        let sse = try await SSEClient.open("\(base)/v1/sse?topics=l&access_token=secret-looking-value")
        sse.close()
        let ids = [published, fromProxy, notFound].compactMap { $0.header("X-Request-Id") } + [sse.header("X-Request-Id") ?? ""]
        #expect(ids[1] == "proxy-42.a_b")
        #expect(ids.count == 4 && Set(ids).count == 4 && ids.allSatisfy { !$0.isEmpty }, "\(ids)")
        let output = try await server.waitForOutput("request_id=\(ids[3])")
        for (id, status) in zip(ids, ["201", "200", "404", "200"]) {
            let line = output.split(separator: "\n").first { $0.contains("request_id=\(id)") }
            #expect(line?.contains("status=\(status)") == true, "\(line ?? "no line for \(id)")")
        }
        #expect(!output.contains("secret-looking-value"))
        #expect(output.contains("access_token=[redacted]"))
    }
}
