import ArgumentParser
import Foundation
import NIOCore
import NIOHTTP1
import NIOPosix

/// `herald-bench publish`: N concurrent publishers over T topics for D seconds.
struct PublishScenario: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "publish",
        abstract: "Durable publish throughput and latency: N connections publishing back to back."
    )

    @Option(help: "Base URL of the Herald server.") var url = "http://127.0.0.1:8080"
    @Option(name: .shortAndLong, help: "Concurrent publishers (one keep-alive connection each).") var concurrency = 16
    @Option(name: .shortAndLong, help: "Number of topics the publishes spread over.") var topics = 4
    @Option(name: .shortAndLong, help: "Size of each notification's data in bytes.") var payload = 64
    @Option(help: "The data's shape: string (\"xx…\") or object (records with keys and numbers).") var shape = BenchPayload.string
    @Option(name: .shortAndLong, help: "Seconds to run (after a 1 s warm-up).") var duration = 10.0
    @Option(help: "Notifications per request: 1 uses POST /v1/topics/{t}/notifications, more uses the batch endpoint.")
    var batch = 1
    @Option(help: "Event-loop threads of the load generator.") var threads = 1
    @Option(help: "Topic name prefix.") var topicPrefix = "bench"
    @Option(help: "A token to send as Authorization: Bearer (a server with --auth-secret).") var token: String?
    @Flag(help: "Print one machine-readable line (key=value) at the end.") var machine = false

    func run() async throws {
        guard let parsed = URL(string: self.url), let host = parsed.host else { throw ValidationError("bad --url") }
        let port = parsed.port ?? 80
        let group = MultiThreadedEventLoopGroup(numberOfThreads: self.threads)
        defer { group.shutdownGracefully { _ in } }

        let data = self.shape.json(bytes: self.payload)
        let topicCount = self.topics
        let batchSize = self.batch
        let prefix = self.topicPrefix
        let makeRequest: @Sendable (Int, Int) -> (path: String, body: [UInt8]) = { connection, sequence in
            let topic = "\(prefix)-\((connection + sequence) % topicCount)"
            if batchSize <= 1 {
                return ("/v1/topics/\(topic)/notifications", Array(#"{"event":"bench","data":\#(data)}"#.utf8))
            }
            var body = #"{"notifications":["#
            for index in 0..<batchSize {
                if index > 0 { body += "," }
                body += #"{"topic":"\#(prefix)-\#((connection + sequence + index) % topicCount)","data":\#(data)}"#
            }
            body += "]}"
            return ("/v1/notifications", Array(body.utf8))
        }

        // Warm-up: one second, not measured.
        _ = try await self.runConnections(group: group, host: host, port: port, seconds: 1, makeRequest: makeRequest)
        let cpuBefore = ProcessUsage.cpuSeconds()
        let started = Date()
        let results = try await self.runConnections(group: group, host: host, port: port, seconds: self.duration, makeRequest: makeRequest)
        let wall = Date().timeIntervalSince(started)
        let cpu = ProcessUsage.cpuSeconds() - cpuBefore

        var latencies = LatencyRecorder()
        var errors = 0
        var statuses: [UInt: Int] = [:]
        for result in results {
            latencies.add(result.latencies)
            errors += result.errors
            statuses.merge(result.statusCounts, uniquingKeysWith: +)
        }
        let requests = Double(latencies.count)
        let notificationsPerSecond = requests * Double(batchSize) / wall
        print(
            String(
                format: "publish: concurrency %d, topics %d, payload %d B, batch %d: %.0f requests/s, %.0f notifications/s",
                self.concurrency, self.topics, self.payload, batchSize, requests / wall, notificationsPerSecond
            )
        )
        print("latency: \(latencies.summary)")
        if errors > 0 { print("errors: \(errors) (statuses: \(statuses))") }
        ProcessUsage.reportLoadSide(cpuSeconds: cpu, wallSeconds: wall)
        if self.machine {
            print(
                String(
                    format: "RESULT scenario=publish concurrency=%d batch=%d notifications_per_s=%.0f requests_per_s=%.0f p50_ms=%.2f p90_ms=%.2f p99_ms=%.2f max_ms=%.2f errors=%d client_cpu=%.2f",
                    self.concurrency, batchSize, notificationsPerSecond, requests / wall, latencies.milliseconds(at: 50),
                    latencies.milliseconds(at: 90), latencies.milliseconds(at: 99), latencies.maxMilliseconds, errors, cpu / wall
                )
            )
        }
    }

    private func runConnections(
        group: MultiThreadedEventLoopGroup,
        host: String,
        port: Int,
        seconds: Double,
        makeRequest: @escaping @Sendable (Int, Int) -> (path: String, body: [UInt8])
    ) async throws -> [HTTPPublishClient.Result] {
        let deadline = DispatchTime.now().uptimeNanoseconds + UInt64(seconds * 1e9)
        let token = self.token
        var futures: [EventLoopFuture<HTTPPublishClient.Result>] = []
        for connection in 0..<self.concurrency {
            let loop = group.next()
            let done = loop.makePromise(of: HTTPPublishClient.Result.self)
            let bootstrap = ClientBootstrap(group: loop)
                .channelOption(.socketOption(.tcp_nodelay), value: 1)
                .channelInitializer { channel in
                    channel.eventLoop.makeCompletedFuture {
                        try channel.pipeline.syncOperations.addHTTPClientHandlers()
                        try channel.pipeline.syncOperations.addHandler(
                            HTTPPublishClient(host: host, token: token, deadline: deadline, done: done) { makeRequest(connection, $0) }
                        )
                    }
                }
            _ = bootstrap.connect(host: host, port: port).flatMapError { error in
                done.fail(error)
                return loop.makeFailedFuture(error)
            }
            futures.append(done.futureResult)
        }
        var results: [HTTPPublishClient.Result] = []
        for future in futures { results.append(try await future.get()) }
        return results
    }
}
