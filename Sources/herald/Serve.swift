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
        help: ArgumentHelp("Most database connections in the pool. (env: HERALD_POOL_SIZE, default: 8)", valueName: "count")
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

    @Flag(name: .customLong("no-migrate"), help: "Do not apply migrations at start. (env: HERALD_NO_MIGRATE=1)")
    var noMigrate = false

    @Option(
        name: .customLong("log-level"),
        help: ArgumentHelp("trace, debug, info, notice, warning, error. (env: HERALD_LOG_LEVEL, default: info)", valueName: "level")
    )
    var logLevel: String?

    func validate() throws {
        if let port, !(0...65535).contains(port) { throw ValidationError("--port must be from 0 to 65535") }
        if let maxPayload, maxPayload < 1 { throw ValidationError("--max-payload must be at least 1") }
        if let maxBatch, maxBatch < 1 { throw ValidationError("--max-batch must be at least 1") }
        if let poolSize, poolSize < 1 { throw ValidationError("--pool-size must be at least 1") }
        if let eventLoops, eventLoops < 1 { throw ValidationError("--event-loops must be at least 1") }
        if let retention, DurationParser.parse(retention) == nil { throw ValidationError("--retention must look like 90s, 30m, 24h or 7d") }
        if let heartbeat, (DurationParser.parse(heartbeat) ?? .zero) <= .zero { throw ValidationError("--heartbeat must look like 15s") }
        if let shutdownTimeout, DurationParser.parse(shutdownTimeout) == nil { throw ValidationError("--shutdown-timeout must look like 10s") }
    }

    func run() async throws {
        let logger = LogSetup.bootstrap(level: self.logLevel)
        let server = HeraldServerConfiguration(
            host: try Environment.resolve(self.host, "host", "127.0.0.1") { $0 },
            port: try Environment.resolve(self.port, "port", 8080) { Int($0) },
            maximumPayload: try Environment.resolve(self.maxPayload, "max-payload", 65536) { Int($0) },
            maximumBatch: try Environment.resolve(self.maxBatch, "max-batch", 1000) { Int($0) },
            retention: try Environment.resolve(self.retention.flatMap(DurationParser.parse), "retention", .seconds(7 * 86400)) {
                DurationParser.parse($0)
            },
            heartbeat: try Environment.resolve(self.heartbeat.flatMap(DurationParser.parse), "heartbeat", .seconds(15)) {
                DurationParser.parse($0).flatMap { $0 > .zero ? $0 : nil }
            },
            corsOrigins: self.corsOrigins.isEmpty
                ? (Environment.value("cors-origin")?.split(separator: ",").map { $0.trimmingCharacters(in: .whitespaces) } ?? [])
                : self.corsOrigins
        )
        let shutdownTimeout = try Environment.resolve(self.shutdownTimeout.flatMap(DurationParser.parse), "shutdown-timeout", .seconds(10)) {
            DurationParser.parse($0)
        }
        let poolSize = try Environment.resolve(self.poolSize, "pool-size", 8) { Int($0) }
        // Applied before parsing (EventLoopCount); checked here so a bad value is an error.
        _ = try Environment.resolve(self.eventLoops, "event-loops", 0) { Int($0).flatMap { $0 >= 1 ? $0 : nil } }
        let migrate = !Environment.flag(self.noMigrate, "no-migrate")

        let registry = PrometheusCollectorRegistry()
        MetricsSystem.bootstrap(PrometheusMetricsFactory(registry: registry))

        let (url, embedded) = try self.database.connect(logger: logger)
        let instance = HeraldInstance(
            configuration: .init(
                server: server,
                databaseURL: url,
                poolSize: poolSize,
                publisher: .init(committers: Int(Environment.value("committers") ?? "") ?? 2),
                migrate: migrate
            ),
            metrics: registry,
            logger: logger
        )
        do {
            try await Self.prepare(instance, logger: logger)
            let app = instance.makeApplication { channel in
                let address = channel.localAddress
                let loops = Array(MultiThreadedEventLoopGroup.singleton.makeIterator()).count
                logger.notice("Herald is listening on http://\(server.host):\(address?.port ?? server.port) (\(loops) event loop\(loops == 1 ? "" : "s"))")
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
