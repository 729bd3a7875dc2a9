import ArgumentParser
import Foundation
import NIOCore
import NIOPosix

/// `herald-bench fanout`: S subscribers on one topic, publishing at R/s.
struct FanoutScenario: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "fanout",
        abstract: "Fan-out: S subscribers (SSE or WebSocket) on one topic while publishing at R/s: deliveries/s, publish→deliver latency, loss."
    )

    @Option(help: "Server address.") var host = "127.0.0.1"
    @Option(help: "Server port (subscribers).") var port = 8080
    @Option(help: "Port to publish to (default: --port); another instance measures cross-instance delivery.") var publishPort: Int?
    @Option(help: "Subscribe path; {topic} is replaced. Default: Herald's, for the transport.") var subscribePath: String?
    @Option(help: "Publish path; {topic} is replaced.") var publishPath = "/v1/topics/{topic}/notifications"
    @Option(help: "Publish body: herald ({\"data\":...}) or raw (the message itself, for Nchan).") var publishFormat = "herald"
    @Option(help: "sse, ws, or h2sse (SSE over HTTP/2 with TLS; publish to a plain --publish-port).") var transport = "sse"
    @Option(name: .shortAndLong, help: "Subscribers.") var subscribers = 1000
    @Option(name: .shortAndLong, help: "Notifications published per second.") var rate = 100.0
    @Option(name: .shortAndLong, help: "Seconds to measure (after a 2 s warm-up).") var duration = 10.0
    @Option(help: "Topic.") var topic = "fanout"
    @Option(help: "Event-loop threads of the load generator.") var threads = 1
    @Option(help: "Publishing connections.") var publishers = 4
    @Option(help: "First loopback source address for subscribers (127.0.0.N and up, 20,000 each), so several generators do not share ports.")
    var sourceAddress = "127.0.0.2"
    @Option(
        help: """
            A connect storm while measuring: this many more subscribers connect at once, each reading the topic's \
            history from its start (after=topic:0) before going live. They are not measured: the measured \
            subscribers show what the storm does to live delivery.
            """
    )
    var storm = 0
    @Option(help: "Notifications stored on the topic before anyone subscribes (64 B each): the history --storm subscribers read.")
    var backlog = 0
    @Flag(help: "Print one machine-readable line (key=value) at the end.") var machine = false

    func run() async throws {
        try await self.measure(label: "fanout")
    }

    /// Runs the measurement; `label` names the scenario in the machine-readable line.
    func measure(label: String) async throws {
        guard let transport = SubscriberPool.Transport(rawValue: self.transport), [.sse, .ws, .h2sse].contains(transport) else {
            throw ValidationError("--transport sse, ws or h2sse (SSE over HTTP/2 with TLS)")
        }
        let group = MultiThreadedEventLoopGroup(numberOfThreads: self.threads)
        defer { group.shutdownGracefully { _ in } }
        let topic = "\(self.topic)-\(Int(Date().timeIntervalSince1970))"
        let subscribePath = (self.subscribePath ?? (transport == .ws ? "/v1/ws?topics={topic}" : "/v1/sse?topics={topic}"))
            .replacingOccurrences(of: "{topic}", with: topic)
        try await self.storeBacklog(topic: topic, group: group)
        let pool = SubscriberPool(group: group, host: self.host, port: self.port, transport: transport, sourceAddress: self.sourceAddress)
        let connectStarted = Date()
        let ready = await pool.connect(count: self.subscribers) { _ in subscribePath }
        print(String(format: "fanout: %d of %d %@ subscribers ready in %.1f s", ready, self.subscribers, transport.rawValue, Date().timeIntervalSince(connectStarted)))
        guard ready > 0 else { throw BenchError("no subscriber could connect") }
        // Let the server finish setting up every subscription before measuring.
        try await Task.sleep(for: .seconds(1))

        // The publisher has a thread of its own, so the subscribers' work cannot delay it.
        let publishGroup = MultiThreadedEventLoopGroup(numberOfThreads: 1)
        defer { publishGroup.shutdownGracefully { _ in } }
        let publisher = RatePublisher(
            loop: publishGroup.next(), host: self.host, path: self.publishPath.replacingOccurrences(of: "{topic}", with: topic),
            format: RatePublisher.BodyFormat(rawValue: self.publishFormat) ?? .herald
        )
        try await publisher.connect(port: self.publishPort ?? self.port, count: self.publishers)
        try await publisher.start(rate: self.rate)
        try await Task.sleep(for: .seconds(2))  // warm-up, not measured
        // Count from a message not sent yet (a few ahead), so that every subscriber counts it:
        // the counting starts on each event loop at slightly different moments.
        let first = try await publisher.nextNumber() + max(2, Int(self.rate / 20))
        try await pool.measure(first..<Int.max)
        let cpuBefore = ProcessUsage.cpuSeconds()
        let started = Date()
        let storming = self.startStorm(topic: topic, transport: transport)
        try await Task.sleep(for: .milliseconds(Int64(self.duration * 1000)))
        let sent = try await publisher.stop()
        try await pool.measure(first..<sent.sent)
        try await publisher.drain()
        // Give the last ones time to arrive.
        try await Task.sleep(for: .seconds(3))
        try await pool.measure(0..<0)
        let wall = Date().timeIntervalSince(started)
        let cpu = ProcessUsage.cpuSeconds() - cpuBefore

        let results = try await pool.gather { stats in (stats.latencies, stats.received, stats.closed) }
        let stormReady = await storming?.value.ready ?? 0
        var latencies = LatencyRecorder()
        var received = 0
        var closed = 0
        for result in results {
            latencies.add(result.0)
            received += result.1
            closed += result.2
        }
        let published = max(0, sent.sent - first)
        let expected = published * ready
        let lost = max(0, expected - received)
        let measuredSeconds = self.duration
        print(
            String(
                format: "published %d (%.0f/s, %d skipped, %d failed); deliveries %d = %.0f/s; lost %d; subscribers closed %d",
                published, Double(published) / measuredSeconds, sent.skipped, sent.failed, received,
                Double(received) / measuredSeconds, lost, closed
            )
        )
        print("publish→deliver: \(latencies.summary)")
        let answered = try await publisher.latencies()
        print("publish answered: \(answered.summary)")
        ProcessUsage.reportLoadSide(cpuSeconds: cpu, wallSeconds: wall)
        if self.machine {
            print(
                String(
                    format: "RESULT scenario=%@ transport=%@ subscribers=%d rate=%.0f deliveries_per_s=%.0f p50_ms=%.2f p90_ms=%.2f p99_ms=%.2f max_ms=%.2f lost=%d client_cpu=%.2f storm=%d storm_ready=%d answered_p50_ms=%.2f answered_p99_ms=%.2f",
                    label, transport.rawValue, ready, self.rate, Double(received) / measuredSeconds, latencies.milliseconds(at: 50),
                    latencies.milliseconds(at: 90), latencies.milliseconds(at: 99), latencies.maxMilliseconds, lost, cpu / wall, self.storm, stormReady,
                    answered.milliseconds(at: 50), answered.milliseconds(at: 99)
                )
            )
        }
    }

    /// Stores `--backlog` notifications on `topic`, 1000 per request.
    private func storeBacklog(topic: String, group: MultiThreadedEventLoopGroup) async throws {
        guard self.backlog > 0 else { return }
        for start in stride(from: 0, to: self.backlog, by: 1000) {
            let items = (start..<min(self.backlog, start + 1000)).map { index in
                #"{"topic":"\#(topic)","data":{"t":0,"i":-1,"pad":"\#(String(repeating: "x", count: 32))"}}"#
            }
            try await BatchPoster.post(
                host: self.host, port: self.publishPort ?? self.port, body: #"{"notifications":[\#(items.joined(separator: ","))]}"#,
                group: group
            )
        }
        print("fanout: stored a backlog of \(self.backlog) notifications")
    }

    /// Starts `--storm` subscribers connecting all at once from the next free source
    /// addresses, on an event loop of their own, each from the topic's start; the task
    /// returns them once all tried.
    private func startStorm(
        topic: String, transport: SubscriberPool.Transport
    ) -> Task<(ready: Int, pool: SubscriberPool), Never>? {
        guard self.storm > 0 else { return nil }
        let base = Int(self.sourceAddress.split(separator: ".").last ?? "2") ?? 2
        let address = "127.0.0.\(base + (self.subscribers + 19_999) / 20_000)"
        // A loop of its own: reading the storm's catch-up must not hold up the measured
        // subscribers' loop (their latency is what the storm does to the server).
        let stormGroup = MultiThreadedEventLoopGroup(numberOfThreads: 1)
        let pool = SubscriberPool(group: stormGroup, host: self.host, port: self.port, transport: transport, sourceAddress: address)
        let path = transport == .ws ? "/v1/ws?topics=\(topic)&after=\(topic):0" : "/v1/sse?topics=\(topic)&after=\(topic):0"
        let (count, host) = (self.storm, self.host)
        return Task {
            let started = Date()
            let ready = await pool.connect(count: count, concurrency: count) { _ in path }
            print(String(format: "storm: %d of %d subscribers to %@ connected in %.1f s", ready, count, host, Date().timeIntervalSince(started)))
            return (ready, pool)
        }
    }
}
