import HeraldPostgres
import Metrics
import Synchronization

/// Herald's metrics (swift-metrics; `herald serve` exports them as Prometheus text on
/// `/metrics`). The README lists every series.
///
/// Handles are made once: a series exists (at zero) from the first use of its handle, and
/// `HeraldMetrics.prepare()` makes those without dynamic labels at start, so a scrape
/// shows them before any traffic.
public enum HeraldMetrics {
    /// How a client is connected or served.
    public enum Transport: String, Sendable, CaseIterable {
        /// Plain HTTP requests (keep-alive connections).
        case http
        /// Server-Sent Events.
        case sse
        /// WebSocket.
        case websocket
        /// Long-polling (a poll waiting with `wait` > 0).
        case longpoll
        /// Plain polling.
        case poll
    }

    /// A limit that refuses requests (the `limit` label of `herald_limit_refusals_total`).
    public enum Limit: String, Sendable, CaseIterable {
        /// `--max-connections`: a connection answered 503 before anything is read.
        case maxConnections = "max_connections"
        /// `--request-timeout`: 408.
        case requestTimeout = "request_timeout"
        /// `--publish-rate`: 429.
        case publishRate = "publish_rate"
        /// `--max-client-streams`: 429.
        case clientStreams = "client_streams"
        /// The publishes waiting for a commit (65,536 notifications / 256 MiB): 503.
        case publishQueue = "publish_queue"
        /// `--publish-timeout`: 503.
        case publishTimeout = "publish_timeout"
        /// A body or a notification's data over `--max-payload` (or the batch body limit): 413.
        case payloadSize = "payload_size"
        /// More than `--max-batch` notifications: 413.
        case batchSize = "batch_size"
        /// A WebSocket message over its maximum: close 1009.
        case messageSize = "message_size"
        /// No database connection free in time, or too many waiting for one: 503.
        case databasePool = "database_pool"
    }

    static let refusals: [Limit: Counter] = Dictionary(
        uniqueKeysWithValues: Limit.allCases.map { ($0, Counter(label: "herald_limit_refusals_total", dimensions: [("limit", $0.rawValue)])) }
    )
    static let connections: [Transport: Meter] = Dictionary(
        uniqueKeysWithValues: [Transport.sse, .websocket].map {
            ($0, Meter(label: "herald_open_connections", dimensions: [("transport", $0.rawValue)]))
        }
    )
    static let httpConnections = Gauge(label: "herald_open_connections", dimensions: [("transport", Transport.http.rawValue)])
    static let subscribers: [Transport: Meter] = Dictionary(
        uniqueKeysWithValues: [Transport.sse, .websocket, .longpoll].map {
            ($0, Meter(label: "herald_live_subscribers", dimensions: [("transport", $0.rawValue)]))
        }
    )
    static let deliveries: [Transport: Counter] = Dictionary(
        uniqueKeysWithValues: Transport.allCases.filter { $0 != .http }.map {
            ($0, Counter(label: "herald_deliveries_total", dimensions: [("transport", $0.rawValue)]))
        }
    )
    /// Pages of the log read for subscribers catching up (behind, or after an overflow).
    static let catchUpReads = Counter(label: "herald_catchup_reads_total")
    /// Times the LISTEN connection came back after it was lost.
    static let listenerReconnects = Counter(label: "herald_listener_reconnects_total")
    /// Partitions of the log created, and dropped (expired).
    static let partitionsCreated = Counter(label: "herald_partitions_created_total")
    static let partitionsDropped = Counter(label: "herald_partitions_dropped_total")
    /// From a publish's arrival at the publisher to its answer (committed or not).
    static let publishLatency = Timer(label: "herald_publish_latency_seconds")

    /// Makes the series without dynamic labels, so they show (at zero) before any traffic.
    public static func prepare() {
        _ = (refusals, connections, httpConnections, subscribers, deliveries)
        _ = (catchUpReads, listenerReconnects, partitionsCreated, partitionsDropped, publishLatency)
    }

    /// A page of the log read for a subscriber catching up.
    public static func catchUpRead() { catchUpReads.increment() }

    /// The LISTEN connection came back after it was lost.
    public static func listenerReconnected() { listenerReconnects.increment() }

    /// Partitions of the log created and dropped by maintenance.
    public static func partitions(created: Int = 0, dropped: Int = 0) {
        if created > 0 { partitionsCreated.increment(by: created) }
        if dropped > 0 { partitionsDropped.increment(by: dropped) }
    }

    /// A publish answered `since` it arrived at the publisher.
    static func published(since start: ContinuousClock.Instant) {
        publishLatency.record(duration: ContinuousClock.now - start)
    }

    /// A request refused by `limit`.
    public static func refused(_ limit: Limit) {
        refusals[limit]?.increment()
    }

    /// A connection of `transport` (SSE, WebSocket) opened (`by: 1`) or closed (`by: -1`).
    public static func connection(_ transport: Transport, by delta: Int) {
        guard let meter = connections[transport] else { return }
        delta > 0 ? meter.increment(by: Double(delta)) : meter.decrement(by: Double(-delta))
    }

    /// A live subscriber of `transport` came (`by: 1`) or went (`by: -1`).
    public static func subscriber(_ transport: Transport, by delta: Int) {
        guard let meter = subscribers[transport] else { return }
        delta > 0 ? meter.increment(by: Double(delta)) : meter.decrement(by: Double(-delta))
    }

    /// `count` notifications written to subscribers of `transport`.
    public static func delivered(_ count: Int, over transport: Transport) {
        guard count > 0 else { return }
        deliveries[transport]?.increment(by: count)
    }

    /// One HTTP request answered: `route` is its route's pattern.
    public static func request(route: String, status: Int) {
        // Made once per route and status (the factory's lookup costs more than the count).
        let key = RequestKey(route: route, status: status)
        let counter = self.requestCounters.withLock { counters in
            if let counter = counters[key] { return counter }
            let counter = Counter(label: "herald_http_requests_total", dimensions: [("route", route), ("status", String(status))])
            counters[key] = counter
            return counter
        }
        counter.increment()
    }

    private struct RequestKey: Hashable {
        var route: String
        var status: Int
    }

    private static let requestCounters = Mutex<[RequestKey: Counter]>([:])

    /// Reads what is sampled rather than counted, just before an export: the HTTP
    /// connections open, and the database pools' connections in use and waiters.
    public static func sample(httpConnections count: Int, pools: [(name: String, pool: PostgresPool)]) {
        Self.httpConnections.record(count)
        for (name, pool) in pools {
            Gauge(label: "herald_pool_connections_in_use", dimensions: [("pool", name)]).record(pool.inUse)
            Gauge(label: "herald_pool_waiters", dimensions: [("pool", name)]).record(pool.waiting)
            let refused = pool.refusedLeases
            let delta = self.poolRefusals.withLock { seen in
                defer { seen[name] = refused }
                return refused - seen[name, default: 0]
            }
            if delta > 0 { refusals[.databasePool]?.increment(by: delta) }
        }
    }

    private static let poolRefusals = Mutex<[String: Int]>([:])
}
