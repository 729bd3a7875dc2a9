import ArgumentParser

/// `herald-bench`: Herald's load generator and benchmark scenarios.
@main
struct HeraldBench: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "herald-bench",
        abstract: "Load generator and benchmark scenarios for Herald (and servers speaking the same SSE/WebSocket).",
        subcommands: [PublishScenario.self, FanoutScenario.self, CatchupScenario.self, IdleScenario.self, ClusterScenario.self, PostgresScenario.self, CeilingServer.self]
    )
}
