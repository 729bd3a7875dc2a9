import ArgumentParser

/// `herald-bench cluster`: publish through one Herald instance, subscribers on another (two
/// `herald serve` on one database), so the delivery crosses PostgreSQL's LISTEN/NOTIFY.
struct ClusterScenario: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "cluster",
        abstract: "Cross-instance: publish through one instance, S subscribers on another; publish→deliver latency and loss."
    )

    @Option(help: "Server address.") var host = "127.0.0.1"
    @Option(help: "Port of the instance published to.") var publishPort: Int
    @Option(help: "Port of the instance the subscribers are on.") var subscribePort: Int
    @Option(help: "sse or ws.") var transport = "sse"
    @Option(name: .shortAndLong, help: "Subscribers.") var subscribers = 100
    @Option(name: .shortAndLong, help: "Notifications published per second.") var rate = 100.0
    @Option(name: .shortAndLong, help: "Seconds to measure (after a 2 s warm-up).") var duration = 10.0
    @Flag(help: "Print one machine-readable line (key=value) at the end.") var machine = false

    func run() async throws {
        guard self.publishPort != self.subscribePort else {
            throw ValidationError("--publish-port and --subscribe-port must be two instances")
        }
        var arguments = [
            "--host", self.host, "--port", String(self.subscribePort), "--publish-port", String(self.publishPort),
            "--transport", self.transport, "--subscribers", String(self.subscribers), "--rate", String(self.rate),
            "--duration", String(self.duration), "--topic", "cluster",
        ]
        if self.machine { arguments.append("--machine") }
        try await FanoutScenario.parse(arguments).measure(label: "cluster")
    }
}
