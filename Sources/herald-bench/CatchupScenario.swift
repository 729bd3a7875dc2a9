import ArgumentParser
import Foundation
import NIOCore
import NIOHTTP1
import NIOPosix

/// `herald-bench catchup`: one subscriber reading M stored notifications from the start.
struct CatchupScenario: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "catchup",
        abstract: "Catch-up: publish M notifications, then one subscriber reads them from topic:0; notifications/s."
    )

    @Option(help: "Server address.") var host = "127.0.0.1"
    @Option(help: "Server port.") var port = 8080
    @Option(name: .shortAndLong, help: "Notifications to store, then read.") var messages = 100_000
    @Option(name: .shortAndLong, help: "Size of each notification's data in bytes.") var payload = 64
    @Option(help: "The data's shape: string (\"xx…\") or object (records with keys and numbers).") var shape = BenchPayload.string
    @Option(help: "sse or ws.") var transport = "sse"
    @Option(help: "Seconds to wait between storing and reading.") var settle = 8.0
    @Flag(help: "Print one machine-readable line (key=value) at the end.") var machine = false

    func run() async throws {
        guard let transport = SubscriberPool.Transport(rawValue: self.transport), transport == .sse || transport == .ws else {
            throw ValidationError("--transport sse or ws")
        }
        let topic = "catchup-\(Int(Date().timeIntervalSince1970))"
        // Store the messages with the batch endpoint, up to 1000 (and about 512 KiB) at a
        // time, over 4 connections.
        let group = MultiThreadedEventLoopGroup(numberOfThreads: 1)
        defer { group.shutdownGracefully { _ in } }
        let data = self.shape.json(bytes: self.payload)
        let perBatch = max(1, min(1000, 524_288 / max(1, self.payload + 32)))
        let batches = (self.messages + perBatch - 1) / perBatch
        let storeStarted = Date()
        try await withThrowingTaskGroup(of: Void.self) { tasks in
            for worker in 0..<4 {
                tasks.addTask {
                    var batch = worker
                    while batch < batches {
                        let count = min(perBatch, self.messages - batch * perBatch)
                        let items = (0..<count).map { index in
                            #"{"topic":"\#(topic)","data":{"t":0,"i":\#(batch * perBatch + index),"pad":\#(data)}}"#
                        }
                        try await BatchPoster.post(
                            host: self.host, port: self.port, body: #"{"notifications":[\#(items.joined(separator: ","))]}"#, group: group
                        )
                        batch += 4
                    }
                }
            }
            try await tasks.waitForAll()
        }
        print(String(format: "catchup: stored %d notifications in %.1f s", self.messages, Date().timeIntervalSince(storeStarted)))
        // PostgreSQL's autovacuum analyzes the freshly filled partition right after a bulk
        // insert; let it finish, so the reading is measured, not the background work.
        try await Task.sleep(for: .seconds(self.settle))

        let pool = SubscriberPool(group: group, host: self.host, port: self.port, transport: transport)
        try await pool.measure(0..<self.messages)
        let cpuBefore = ProcessUsage.cpuSeconds()
        let started = Date()
        let path = transport == .sse ? "/v1/sse?topics=\(topic)&after=\(topic):0" : "/v1/ws?topics=\(topic)&after=\(topic):0"
        guard await pool.connect(count: 1, path: { _ in path }) == 1 else { throw BenchError("the subscriber could not connect") }
        var received = 0
        while received < self.messages, Date().timeIntervalSince(started) < 120 {
            try await Task.sleep(for: .milliseconds(20))
            received = try await pool.gather { $0.received }.reduce(0, +)
        }
        let seconds = Date().timeIntervalSince(started)
        let rate = Double(received) / seconds
        print(String(format: "catchup: read %d of %d in %.2f s = %.0f notifications/s", received, self.messages, seconds, rate))
        ProcessUsage.reportLoadSide(cpuSeconds: ProcessUsage.cpuSeconds() - cpuBefore, wallSeconds: seconds)
        if self.machine {
            print(String(format: "RESULT scenario=catchup messages=%d received=%d notifications_per_s=%.0f", self.messages, received, rate))
        }
    }
}

/// Posts one batch and waits for its answer.
enum BatchPoster {
    static func post(host: String, port: Int, body: String, group: MultiThreadedEventLoopGroup) async throws {
        let loop = group.next()
        let done = loop.makePromise(of: HTTPPublishClient.Result.self)
        let bytes = Array(body.utf8)
        let deadline = DispatchTime.now().uptimeNanoseconds  // one request, then close
        _ = try await ClientBootstrap(group: loop)
            .channelInitializer { channel in
                channel.eventLoop.makeCompletedFuture {
                    try channel.pipeline.syncOperations.addHTTPClientHandlers()
                    try channel.pipeline.syncOperations.addHandler(
                        HTTPPublishClient(host: host, token: nil, deadline: deadline, done: done) { _ in ("/v1/notifications", bytes) }
                    )
                }
            }
            .connect(host: host, port: port).get()
        let result = try await done.futureResult.get()
        guard result.errors == 0 else { throw BenchError("batch publish failed: \(result.statusCounts)") }
    }
}
