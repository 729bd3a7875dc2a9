import ArgumentParser
import Foundation
import HeraldCore
import HeraldPostgres
import HeraldServer
import Hummingbird
import Logging
import Metrics
import NIOPosix
import Prometheus
import ServiceLifecycle
import UnixSignals

/// `herald serve`: runs the HTTP service.
struct Serve: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Run the Herald server.",
        discussion: """
            With no --database-url, Herald runs a private PostgreSQL in --data-dir: created on \
            first start, on a Unix socket in that folder with no TCP port, stopped when Herald \
            stops (SIGINT, SIGTERM). Migrations are applied at start unless --no-migrate.
            """
    )

    @Option(help: ArgumentHelp("Address to listen on. (env: HERALD_HOST, default: 127.0.0.1)", valueName: "address"))
    var host: String?

    @Option(help: ArgumentHelp("Port to listen on; 0 picks a free one. (env: HERALD_PORT, default: 8080)", valueName: "port"))
    var port: Int?

    @OptionGroup var database: DatabaseOptions

    @OptionGroup var security: SecurityOptions

    @Option(
        help: ArgumentHelp(
            "How long notifications are kept: 90s, 30m, 24h, 7d. (env: HERALD_RETENTION, default: 7d)",
            valueName: "duration"
        )
    )
    var retention: String?

    @Option(
        name: .customLong("max-payload"),
        help: ArgumentHelp("Largest publish body in bytes. (env: HERALD_MAX_PAYLOAD, default: 65536)", valueName: "bytes")
    )
    var maxPayload: Int?

    @Option(
        name: .customLong("max-batch"),
        help: ArgumentHelp("Most notifications in one batch request. (env: HERALD_MAX_BATCH, default: 1000)", valueName: "count")
    )
    var maxBatch: Int?

    @Option(
        help: ArgumentHelp(
            "How often SSE streams send a keep-alive and WebSocket connections are pinged: 15s, 30s. (env: HERALD_HEARTBEAT, default: 15s)",
            valueName: "duration"
        )
    )
    var heartbeat: String?

    @Option(
        name: .customLong("cors-origin"),
        help: ArgumentHelp(
            "An origin whose browser pages may use the API (repeat for more; * allows any). Default: none, same origin only. (env: HERALD_CORS_ORIGIN, comma-separated)",
            valueName: "origin"
        )
    )
    var corsOrigins: [String] = []

    @Option(
        name: .customLong("shutdown-timeout"),
        help: ArgumentHelp(
            "On SIGTERM/SIGINT, how long to let streams end and publishes finish before stopping hard; 5 s after it Herald exits 1 whatever still runs. (env: HERALD_SHUTDOWN_TIMEOUT, default: 10s)",
            valueName: "duration"
        )
    )
    var shutdownTimeout: String?

    @Option(
        name: .customLong("pool-size"),
        help: ArgumentHelp(
            "Most database connections for reads (publishing has its own: one per committer, and one). (env: HERALD_POOL_SIZE, default: 8)",
            valueName: "count"
        )
    )
    var poolSize: Int?

    @Option(
        name: .customLong("event-loops"),
        help: ArgumentHelp(
            "Event-loop threads, which serve connections and run Herald's tasks. (env: HERALD_EVENT_LOOPS, default: one per core)",
            valueName: "count"
        )
    )
    var eventLoops: Int?

    @Option(
        name: .customLong("request-timeout"),
        help: ArgumentHelp(
            "How long a request's head and body may take to arrive; a slower one is answered 408 and closed. (env: HERALD_REQUEST_TIMEOUT, default: 10s)",
            valueName: "duration"
        )
    )
    var requestTimeout: String?

    @Option(
        name: .customLong("idle-timeout"),
        help: ArgumentHelp(
            "How long a keep-alive connection may stay idle between requests (open streams are not idle). (env: HERALD_IDLE_TIMEOUT, default: 60s)",
            valueName: "duration"
        )
    )
    var idleTimeout: String?

    @Option(
        name: .customLong("max-connections"),
        help: ArgumentHelp(
            "Most connections open at once; one more is answered 503 and closed. (env: HERALD_MAX_CONNECTIONS, default: the open-file limit less \(HeraldServerConfiguration.reservedFileDescriptors))",
            valueName: "count"
        )
    )
    var maxConnections: Int?

    @Option(
        name: .customLong("publish-timeout"),
        help: ArgumentHelp(
            "How long a publish may wait for its commit (its topic locked by another transaction, the database slow) before it is answered 503 with nothing stored. (env: HERALD_PUBLISH_TIMEOUT, default: 5s)",
            valueName: "duration"
        )
    )
    var publishTimeout: String?

    @Option(
        help: ArgumentHelp(
            "The subscribe transports offered, comma-separated: websocket, sse, longpoll, poll; the others answer 404. (env: HERALD_TRANSPORTS, default: websocket,sse,longpoll,poll)",
            valueName: "list"
        )
    )
    var transports: String?

    @Flag(name: .customLong("no-migrate"), help: "Do not apply migrations at start. (env: HERALD_NO_MIGRATE=1)")
    var noMigrate = false

    @Option(
        name: .customLong("log-level"),
        help: ArgumentHelp("trace, debug, info, notice, warning, error. (env: HERALD_LOG_LEVEL, default: info)", valueName: "level")
    )
    var logLevel: String?

    func validate() throws {
        try ServeSettings.port.validate(self.port)
        try ServeSettings.maxPayload.validate(self.maxPayload)
        try ServeSettings.maxBatch.validate(self.maxBatch)
        try ServeSettings.poolSize.validate(self.poolSize)
        try ServeSettings.eventLoops.validate(self.eventLoops)
        try ServeSettings.maxConnections().validate(self.maxConnections)
        try ServeSettings.retention.validate(text: self.retention)
        try ServeSettings.heartbeat.validate(text: self.heartbeat)
        try ServeSettings.shutdownTimeout.validate(text: self.shutdownTimeout)
        try ServeSettings.requestTimeout.validate(text: self.requestTimeout)
        try ServeSettings.idleTimeout.validate(text: self.idleTimeout)
        try ServeSettings.publishTimeout.validate(text: self.publishTimeout)
        if let transports, Transports(list: transports) == nil { throw ValidationError(Self.transportsExpectation) }
        // Named on the command line, an address open to other hosts without a secret is a usage error.
        if let host = self.host, self.security.secret == nil, !self.security.anonymousAllowed,
            let problem = HeraldServerConfiguration(host: host, maximumConnections: 1).exposureProblem
        {
            throw ValidationError(problem)
        }
    }

    func run() async throws {
        let logger = LogSetup.bootstrap(level: self.logLevel)
        OpenFileLimit.raise()
        let maximumConnections = try ServeSettings.maxConnections().resolve(self.maxConnections)
        if maximumConnections > OpenFileLimit.current - HeraldServerConfiguration.reservedFileDescriptors {
            logger.warning(
                "--max-connections is above what the open-file limit allows; connections beyond it will fail to be accepted",
                metadata: ["max_connections": "\(maximumConnections)", "open_file_limit": "\(OpenFileLimit.current)"]
            )
        }
        let server = HeraldServerConfiguration(
            host: self.host ?? Environment.value("host") ?? "127.0.0.1",
            port: try ServeSettings.port.resolve(self.port),
            maximumPayload: try ServeSettings.maxPayload.resolve(self.maxPayload),
            maximumBatch: try ServeSettings.maxBatch.resolve(self.maxBatch),
            retention: try ServeSettings.retention.resolve(text: self.retention),
            heartbeat: try ServeSettings.heartbeat.resolve(text: self.heartbeat),
            corsOrigins: self.corsOrigins.isEmpty
                ? (Environment.value("cors-origin")?.split(separator: ",").map { $0.trimmingCharacters(in: .whitespaces) } ?? [])
                : self.corsOrigins,
            requestTimeout: try ServeSettings.requestTimeout.resolve(text: self.requestTimeout),
            idleTimeout: try ServeSettings.idleTimeout.resolve(text: self.idleTimeout),
            maximumConnections: maximumConnections,
            authSecret: self.security.secret,
            clientLimits: try self.security.limits(),
            tls: try self.security.tls(),
            transports: try self.resolvedTransports()
        )
        if let problem = server.exposureProblem, !self.security.anonymousAllowed { throw ConfigurationError(message: problem) }
        if let secret = server.authSecret, secret.utf8.count < 32 {
            logger.warning("--auth-secret is shorter than 32 bytes: a short HS256 secret can be guessed offline from one token")
        }
        let shutdownTimeout = try ServeSettings.shutdownTimeout.resolve(text: self.shutdownTimeout)
        let poolSize = try ServeSettings.poolSize.resolve(self.poolSize)
        // Applied before parsing (EventLoopCount); checked here so a bad value is an error.
        _ = try ServeSettings.eventLoops.resolve(self.eventLoops)
        let publisher = Publisher.Configuration(
            committers: try ServeSettings.committers.resolve(nil),
            publishTimeout: try ServeSettings.publishTimeout.resolve(text: self.publishTimeout)
        )
        let migrate = !Environment.flag(self.noMigrate, "no-migrate")

        let registry = PrometheusCollectorRegistry()
        MetricsSystem.bootstrap(PrometheusMetricsFactory(registry: registry))

        let (url, embedded) = try self.database.connect(logger: logger)
        let instance = HeraldInstance(
            configuration: .init(
                server: server,
                databaseURL: url,
                poolSize: poolSize,
                publisher: publisher,
                migrate: migrate
            ),
            metrics: registry,
            logger: logger
        )
        do {
            try await Self.prepare(instance, logger: logger)
            let app = try instance.makeApplication { channel in
                let address = channel.localAddress
                let loops = Array(MultiThreadedEventLoopGroup.singleton.makeIterator()).count
                logger.notice("Herald is listening on http\(server.tls == nil ? "" : "s")://\(server.host):\(address?.port ?? server.port) (\(loops) event loop\(loops == 1 ? "" : "s"))")
            }
            let watchdog = ShutdownWatchdog(timeout: shutdownTimeout, grace: .seconds(5), embedded: embedded, logger: logger)
            var group = ServiceGroupConfiguration(services: [app, watchdog], gracefulShutdownSignals: [.sigterm, .sigint], logger: logger)
            group.maximumGracefulShutdownDuration = shutdownTimeout
            try await ServiceGroup(configuration: group).run()
        } catch {
            instance.shutdown()
            try? embedded?.stop()
            throw error
        }
        instance.shutdown()
        try embedded?.stop()
        logger.info("Herald stopped")
    }

    static let transportsExpectation = "--transports is a comma-separated list of websocket, sse, longpoll and poll (at least one)"

    /// `--transports`, else `HERALD_TRANSPORTS`, else all.
    func resolvedTransports() throws -> Transports {
        if let transports { return Transports(list: transports) ?? .all }  // checked by validate()
        guard let text = Environment.value("transports") else { return .all }
        guard let transports = Transports(list: text) else {
            throw ConfigurationError(message: "\(Environment.name(for: "transports"))=\(text) is not valid: \(Self.transportsExpectation)")
        }
        return transports
    }

    /// Prepares the database, waiting up to a minute for it to come up.
    static func prepare(_ instance: HeraldInstance, logger: Logger) async throws {
        let start = ContinuousClock.now
        var delay = Duration.milliseconds(250)
        while true {
            do {
                try await instance.prepare()
                return
            } catch let error as PostgresError where error.isUnavailable && ContinuousClock.now - start < .seconds(60) {
                logger.warning("database unavailable, retrying", metadata: ["error": "\(error)"])
                try await Task.sleep(for: delay)
                delay = min(delay * 2, .seconds(5))
            }
        }
    }
}
