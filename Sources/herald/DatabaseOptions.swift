import ArgumentParser
import HeraldPostgres
import Logging

/// Where the database is: `--database-url`, or the private server in `--data-dir`.
struct DatabaseOptions: ParsableArguments {
    @Option(
        name: .customLong("database-url"),
        help: ArgumentHelp(
            "A libpq connection string (URI or key=value; multi-host, sslmode and .pgpass work). "
                + "Without it, Herald runs a private PostgreSQL in --data-dir. (env: HERALD_DATABASE_URL)",
            valueName: "url"
        )
    )
    var databaseURL: String?

    @Option(
        name: .customLong("data-dir"),
        help: ArgumentHelp(
            "Folder of the private PostgreSQL used when no --database-url is given. (env: HERALD_DATA_DIR, default: .herald)",
            valueName: "path"
        )
    )
    var dataDir: String?

    /// The database URL given on the command line or in the environment, if any.
    var givenURL: String? { self.databaseURL ?? Environment.value("database-url") }

    /// The data directory.
    var dataDirectory: String { self.dataDir ?? Environment.value("data-dir") ?? ".herald" }

    /// Returns a connection string, starting the private server when no URL was given;
    /// `started` is that server when this call started it.
    func connect(logger: Logger) throws -> (url: String, started: EmbeddedPostgres?) {
        if let url = self.givenURL { return (url, nil) }
        let server = try EmbeddedPostgres(directory: self.dataDirectory)
        let wasRunning = server.isRunning()
        let url = try server.start(logger: logger)
        return (url, wasRunning ? nil : server)
    }
}
