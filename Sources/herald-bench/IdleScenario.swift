import ArgumentParser
import Foundation
import NIOCore
import NIOPosix

/// `herald-bench idle`: S idle subscribers, and what they cost the server in memory.
struct IdleScenario: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "idle",
        abstract: "Idle subscribers: the server's resident memory per connection (from /proc of its PID)."
    )

    @Option(help: "Server address.") var host = "127.0.0.1"
    @Option(help: "Server port.") var port = 8080
    @Option(help: "PID of the server process to measure (for Nchan: its worker).") var serverPID: Int32
    @Option(help: "Subscribe path; {topic} and {i} are replaced. Default: Herald's, for the transport.") var subscribePath: String?
    @Option(help: "sse, ws or h2sse (SSE over HTTP/2 with TLS, 100 streams a connection); or, to see what a connection itself costs, tcp (connect, send nothing) or http (GET the path, then stay open).")
    var transport = "sse"
    @Option(name: .shortAndLong, help: "Subscribers.") var subscribers = 10000
    @Option(help: "Topics the subscribers spread over.") var topics = 1
    @Option(help: "Event-loop threads of the load generator.") var threads = 2
    @Option(help: "Seconds to hold the connections before measuring.") var settle = 3.0
    @Option(help: "First loopback source address for subscribers (127.0.0.N and up, 20,000 each), so several generators do not share ports.")
    var sourceAddress = "127.0.0.2"
    @Flag(help: "Print one machine-readable line (key=value) at the end.") var machine = false

    func run() async throws {
        guard let transport = SubscriberPool.Transport(rawValue: self.transport) else {
            throw ValidationError("--transport sse, ws, h2sse, tcp or http")
        }
        guard let before = ProcessUsage.residentBytes(pid: self.serverPID) else { throw BenchError("no process \(self.serverPID)") }
        let group = MultiThreadedEventLoopGroup(numberOfThreads: self.threads)
        defer { group.shutdownGracefully { _ in } }
        let template = self.subscribePath ?? (transport == .ws ? "/v1/ws?topics={topic}" : transport == .http ? "/healthz" : "/v1/sse?topics={topic}")
        let topics = self.topics
        let stamp = Int(Date().timeIntervalSince1970)
        let pool = SubscriberPool(group: group, host: self.host, port: self.port, transport: transport, sourceAddress: self.sourceAddress)
        let ready = await pool.connect(count: self.subscribers) { index in
            template.replacingOccurrences(of: "{topic}", with: "idle-\(stamp)-\(index % topics)")
                .replacingOccurrences(of: "{i}", with: String(index))
        }
        try await Task.sleep(for: .milliseconds(Int64(self.settle * 1000)))
        guard let after = ProcessUsage.residentBytes(pid: self.serverPID) else { throw BenchError("the server went away") }
        let perConnection = Double(after - before) / Double(max(ready, 1))
        print(
            String(
                format: "idle: %d of %d %@ subscribers; server RSS %.1f MiB → %.1f MiB: %.1f KiB per connection",
                ready, self.subscribers, transport.rawValue, Double(before) / 1_048_576, Double(after) / 1_048_576, perConnection / 1024
            )
        )
        if self.machine {
            print(
                String(
                    format: "RESULT scenario=idle transport=%@ subscribers=%d rss_before=%d rss_after=%d kib_per_connection=%.2f",
                    transport.rawValue, ready, before, after, perConnection / 1024
                )
            )
        }
    }
}
