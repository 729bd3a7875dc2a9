import HeraldCore
import HeraldPostgres
import Hummingbird
import Logging
import NIOCore
import Prometheus
import ServiceLifecycle

/// One Herald instance: its database pools and LISTEN connection, the publisher, the
/// dispatcher, partition maintenance, and the HTTP application in front of them.
///
/// Publishing has a pool of its own, so that reads (catch-up after a reconnect storm,
/// polls) cannot keep commits waiting for a connection. Every pooled connection runs with a
/// `statement_timeout` and a `lock_timeout`, so a stuck database holds nothing forever.
public final class HeraldInstance: Sendable {
    /// Everything an instance needs to run.
    public struct Configuration: Sendable {
        /// The HTTP side.
        public var server: HeraldServerConfiguration
        /// A libpq connection string.
        public var databaseURL: String
        /// The most pooled database connections for reads (the publisher has its own:
        /// one per committer and one more).
        public var poolSize: Int
        /// How publishes are batched.
        public var publisher: Publisher.Configuration
        /// Whether `prepare()` applies migrations.
        public var migrate: Bool
        /// The most catch-up pages being written at once, in rounds (`Hub.pageTurns`).
        public var catchUpPagesAtOnce = 8

        /// Creates a configuration.
        public init(
            server: HeraldServerConfiguration = .init(),
            databaseURL: String,
            poolSize: Int = 8,
            publisher: Publisher.Configuration = .init(),
            migrate: Bool = true
        ) {
            self.server = server
            self.databaseURL = databaseURL
            self.poolSize = poolSize
            self.publisher = publisher
            self.migrate = migrate
        }
    }

    /// The configuration.
    public let configuration: Configuration
    /// The pooled database connections for everything but publishing.
    public let pool: PostgresPool
    /// The publisher's own connections.
    public let publishPool: PostgresPool
    /// The group-commit publisher.
    public let publisher: Publisher
    /// Reads of the log.
    public let store: NotificationStore
    /// The LISTEN dispatcher.
    public let dispatcher: Dispatcher
    /// Wake-ups of long-polls.
    public let signals: WakeSignals
    /// The live subscribers of this instance.
    public let hub: Hub
    /// Server-side cursors.
    public let cursors: CursorStore
    /// The connections open (`--max-connections`).
    let connections: ConnectionLimit
    /// Checks tokens (`--auth-secret`).
    public let authenticator: Authenticator
    /// Per-client limits.
    public let limits: ClientLimits
    let metrics: PrometheusCollectorRegistry?
    let logger: Logger

    /// Creates the parts; nothing connects until `prepare()` or `run`.
    public init(configuration: Configuration, metrics: PrometheusCollectorRegistry? = nil, logger: Logger = Logger(label: "herald")) {
        self.configuration = configuration
        self.metrics = metrics
        self.logger = logger
        // Reads by (topic, seq) use one generic plan per connection: an ordered index scan of
        // each partition that stops at the page's end. A custom plan is made with the
        // statistics of the moment, which lag behind a partition that just filled; it then
        // sorts the whole partition for every page (measured: a 1,000-row catch-up page
        // 1 ms generic, 16 to 32 ms custom).
        let generic = ("plan_cache_mode", "force_generic_plan")
        self.pool = PostgresPool(
            configuration: .init(
                connectionString: configuration.databaseURL,
                maximumConnections: configuration.poolSize,
                sessionSettings: [generic, ("statement_timeout", "30s"), ("lock_timeout", "5s")]
            ),
            logger: logger
        )
        let publishTimeout = configuration.publisher.publishTimeout.wholeMilliseconds
        self.publishPool = PostgresPool(
            configuration: .init(
                connectionString: configuration.databaseURL,
                maximumConnections: max(1, configuration.publisher.committers) + 1,
                applicationName: "herald-publish",
                // A batch waits for its topics' locks at most 250 ms; then the topics held at
                // that moment are set aside and probed without waiting (see Publisher).
                sessionSettings: [generic, ("statement_timeout", "\(publishTimeout)ms"), ("lock_timeout", "250ms")],
                leaseTimeout: configuration.publisher.publishTimeout
            ),
            logger: logger,
            retiringWith: self.pool
        )
        self.store = NotificationStore(pool: self.pool)
        self.signals = WakeSignals()
        // Catch-up reads take at most half the read pool: live delivery keeps the rest.
        let hub = Hub(
            store: self.store, catchUpConcurrency: max(1, configuration.poolSize / 2),
            pagesWrittenAtOnce: configuration.catchUpPagesAtOnce, logger: logger
        )
        self.hub = hub
        // What this instance commits reaches its own subscribers without a read back.
        self.publisher = Publisher(
            pool: self.publishPool, configuration: configuration.publisher, logger: logger,
            onCommit: { hub.deliverCommitted($0) }
        )
        self.cursors = CursorStore(pool: self.pool, logger: logger)
        self.connections = ConnectionLimit(maximum: configuration.server.maximumConnections)
        self.authenticator = Authenticator(secret: configuration.server.authSecret)
        self.limits = ClientLimits(configuration: configuration.server.clientLimits)
        HeraldMetrics.prepare()
        self.dispatcher = Dispatcher(
            listener: PostgresListener(connectionString: configuration.databaseURL, channels: Dispatcher.channels, logger: logger),
            signals: self.signals,
            hub: self.hub,
            heartbeat: configuration.server.heartbeat,
            logger: logger
        )
    }

    /// Applies migrations (unless configured not to) and creates the log's partitions.
    ///
    /// Without migrating, it checks that the schema is up to date and says what to do if not.
    public func prepare() async throws {
        // A connection of its own, without the pools' time limits: a migration may wait for
        // another instance's, and may take a while.
        let migrationPool = PostgresPool(
            configuration: .init(connectionString: self.configuration.databaseURL, maximumConnections: 1, applicationName: "herald-migrate"),
            logger: self.logger
        )
        defer { migrationPool.shutdown() }
        let migrator = Migrator(pool: migrationPool, logger: self.logger)
        if self.configuration.migrate {
            let applied = try await migrator.migrate()
            if !applied.isEmpty { self.logger.info("migrations applied", metadata: ["applied": "\(applied)"]) }
        } else {
            let pending = try await migrator.pending()
            guard pending.isEmpty else {
                throw SchemaOutOfDate(pending: pending.map(\.name))
            }
        }
        try await self.maintenance.runOnce()
        // The purges so far, before any subscriber starts (later ones come on the control channel).
        await self.store.loadPurges()
    }

    var maintenance: PartitionMaintenance {
        PartitionMaintenance(pool: self.pool, retention: self.configuration.server.retention, logger: self.logger)
    }

    /// The number of HTTP connections open now.
    public var connectionCount: Int { self.connections.count }

    /// Where subscribers start and when their cursors move, for every transport.
    public var policy: CursorPolicy { CursorPolicy(store: self.store, cursors: self.cursors) }

    var corsPolicy: CORSPolicy { CORSPolicy(origins: Set(self.configuration.server.corsOrigins)) }

    /// What the fast path serves (a single publish, Server-Sent Events).
    var fastPathRoutes: FastPathRoutes {
        FastPathRoutes(
            logger: self.logger,
            publisher: self.publisher,
            subscriptions: SubscriptionServices(hub: self.hub, policy: self.policy),
            configuration: self.configuration.server,
            cors: self.corsPolicy,
            authenticator: self.authenticator,
            limits: self.limits
        )
    }

    /// The router: every HTTP route of the wire contract that exists so far (WebSocket
    /// upgrades, single publishes and event streams are served below it, see
    /// `HeraldChildChannel`).
    public func makeRouter() -> Router<HeraldRequestContext> {
        let router = Router(context: HeraldRequestContext.self, options: .autoGenerateHeadEndpoints)
        router.add(middleware: RequestLogMiddleware())
        router.add(middleware: HeraldCORSMiddleware(policy: self.corsPolicy))
        router.add(middleware: ErrorMiddleware())
        let server = self.configuration.server
        let authenticator = self.authenticator
        let admin = AdminRoutes(admin: Admin(store: self.store, cursors: self.cursors), authenticator: authenticator)
        PublishRoutes(
            publisher: self.publisher, store: self.store, configuration: server, authenticator: authenticator, limits: self.limits,
            admin: admin
        ).add(to: router)
        admin.add(to: router)
        PollRoutes(poller: Poller(policy: self.policy, signals: self.signals), authenticator: authenticator, transports: server.transports)
            .add(to: router)
        SSERoutes(routes: self.fastPathRoutes).add(to: router)
        WebSocketRoutes(authenticator: authenticator, transports: server.transports).add(to: router)
        ClientRoutes(cursors: self.cursors, authenticator: authenticator).add(to: router)
        HealthRoutes(
            pools: [("read", self.pool), ("publish", self.publishPool)], connections: self.connections, dispatcher: self.dispatcher,
            metrics: self.metrics, authenticator: authenticator
        ).add(to: router)
        StaticRoutes().add(to: router)
        return router
    }

    /// The HTTP application with the instance's services; run it in a service group.
    /// On graceful shutdown the server stops first (answering requests in flight, ending
    /// streams so their clients reconnect elsewhere), then cursors are written, the
    /// publisher commits what is queued, and the LISTEN connection closes.
    ///
    /// With TLS configured, connections negotiate HTTP/2 or HTTP/1.1 (`HeraldSecureChildChannel`).
    public func makeApplication(
        onServerRunning: @escaping @Sendable (any Channel) async -> Void = { _ in }
    ) throws -> some ApplicationProtocol {
        let server = self.configuration.server
        return Application(
            router: self.makeRouter(),
            server: try server.tls.map { tls in
                try .heraldSecure(routes: self.fastPathRoutes, limit: self.connections, tls: tls, idleTimeout: server.idleTimeout)
            } ?? .herald(routes: self.fastPathRoutes, limit: self.connections),
            configuration: .init(
                address: .hostname(self.configuration.server.host, port: self.configuration.server.port),
                serverName: "Herald",
                // Thousands of subscribers may connect at once (a restart, a failover).
                backlog: 4096
            ),
            services: [self.dispatcher, self.publisher, self.cursors, self.maintenance],
            onServerRunning: onServerRunning,
            logger: self.logger
        )
    }

    /// The database lacks migrations and the instance was told not to apply them.
    public struct SchemaOutOfDate: Error, CustomStringConvertible {
        /// The migrations not applied.
        public var pending: [String]

        public var description: String {
            "the database schema is not up to date (missing \(self.pending.joined(separator: ", "))): "
                + "run `herald migrate`, or start without --no-migrate"
        }
    }

    /// Closes the database connections (after the application has stopped).
    public func shutdown() {
        self.pool.shutdown()
        self.publishPool.shutdown()
    }
}
