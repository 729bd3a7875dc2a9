import ArgumentParser

/// The `herald` command line.

struct Herald: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "herald",
        abstract: "Herald: durable real-time notifications on PostgreSQL.",
        discussion: """
            Every option can also be set in the environment as HERALD_ and the option's name in \
            upper case with underscores: --database-url is HERALD_DATABASE_URL.
            """,
        subcommands: [Serve.self, Migrate.self, Token.self, Publish.self, Tail.self, Topics.self, Cursors.self, Replay.self, Prune.self]
    )
}
