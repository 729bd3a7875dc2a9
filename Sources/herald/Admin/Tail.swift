import ArgumentParser
import Foundation
import HeraldCore
import HeraldPostgres
import Logging
import ServiceLifecycle
import Synchronization
import UnixSignals

/// `herald tail TOPIC...`: follows topics live, one JSON notification per line.
struct Tail: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Follow topics live, printing one JSON notification per line.",
        discussion: """
            Uses the server's delivery (its own LISTEN connection, catching up from the log), \
            so it needs no server running. It starts at --after, else at the client's stored \
            cursor (--client), else now. With --client, what it prints moves that client's \
            cursor, like any subscriber's. Resets (history gone, an admin replay) are noted on \
            standard error. Ctrl-C (or SIGTERM) ends it.
            """
    )

    @OptionGroup var database: DatabaseOptions

    @Argument(help: ArgumentHelp("The topics (1 to 100).", valueName: "topic"))
    var topics: [String]

    @Option(help: ArgumentHelp("Where to start: topic:seq pairs (orders:42,alerts:7); a bare seq with one topic; topic:0 for everything retained.", valueName: "cursor"))
    var after: String?

    @Option(help: ArgumentHelp("A client id: start at its stored cursor, and move it with what is printed.", valueName: "id"))
    var client: String?

    func validate() throws {
        do {
            _ = try PollRequest(topics: self.topics, after: try self.cursor())
        } catch {
            throw ValidationError(error.message)
        }
        if let client, !NameRules.isValidClientID(client) { throw ValidationError("--client must match \(NameRules.clientPattern)") }
    }

    func cursor() throws(HeraldError) -> Cursor {
        guard let after else { return Cursor() }
        return try Cursor.parse(after, singleTopic: self.topics.count == 1 ? self.topics[0] : nil)
    }

    func run() async throws {
        let after = try self.cursor()
        try await AdminSession.run(self.database) { session in
            let cursors = CursorStore(pool: session.pool, logger: session.logger)
            let hub = Hub(store: session.admin.store, logger: session.logger)
            let dispatcher = Dispatcher(
                listener: PostgresListener(
                    connectionString: session.url, channels: Dispatcher.channels, applicationName: "herald-tail", logger: session.logger
                ),
                signals: WakeSignals(), hub: hub, logger: session.logger
            )
            let follower = Follower(
                hub: hub, policy: CursorPolicy(store: session.admin.store, cursors: cursors), client: self.client, topics: self.topics,
                after: after
            )
            let group = ServiceGroup(
                configuration: ServiceGroupConfiguration(
                    services: [
                        .init(service: dispatcher),
                        .init(service: cursors),
                        .init(service: follower, successTerminationBehavior: .gracefullyShutdownGroup),
                    ],
                    gracefulShutdownSignals: [.sigint, .sigterm],
                    logger: session.logger
                )
            )
            try await group.run()
            if let failure = follower.failure.withLock({ $0 }) { throw failure }
        }
    }
}
