import Glibc
import HeraldCore
import NIOSSL

/// The settings of the HTTP side of `herald serve`.
public struct HeraldServerConfiguration: Sendable {
    /// The address to listen on.
    public var host: String
    /// The port to listen on (0 picks a free one).
    public var port: Int
    /// The largest publish body, and the largest `data` of one notification, in bytes
    /// (`--max-payload`).
    public var maximumPayload: Int
    /// The most notifications in a batch (`--max-batch`).
    public var maximumBatch: Int
    /// How long notifications are kept (`--retention`).
    public var retention: Duration
    /// How often streams send a keep-alive (`--heartbeat`).
    public var heartbeat: Duration
    /// Origins allowed to read the API from a browser on another origin, and to open a
    /// WebSocket (`--cors-origin`); `*` allows any. Empty: same origin only.
    public var corsOrigins: [String]
    /// The largest WebSocket frame accepted or sent.
    public var maximumFrame: Int
    /// How many notifications a subscriber's inbox holds before it catches up from the database.
    public var inboxCapacity: Int
    /// How long a request's head and body may take to arrive (`--request-timeout`).
    public var requestTimeout: Duration
    /// How long a keep-alive connection may stay idle between requests (`--idle-timeout`).
    public var idleTimeout: Duration
    /// The most connections open at once (`--max-connections`).
    public var maximumConnections: Int
    /// The secret of HS256 tokens (`--auth-secret`); nil: no authentication.
    public var authSecret: String?
    /// Per-client limits (`--publish-rate`, `--publish-burst`, `--max-client-streams`).
    public var clientLimits: ClientLimits.Configuration
    /// TLS (`--tls-cert`, `--tls-key`): HTTPS with HTTP/2 and HTTP/1.1; nil: plain HTTP.
    public var tls: TLSConfiguration?
    /// The subscribe transports offered (`--transports`).
    public var transports: Transports

    /// Creates a configuration with the defaults of the wire contract.
    public init(
        host: String = "127.0.0.1",
        port: Int = 8080,
        maximumPayload: Int = 65536,
        maximumBatch: Int = 1000,
        retention: Duration = .seconds(7 * 86400),
        heartbeat: Duration = .seconds(15),
        corsOrigins: [String] = [],
        maximumFrame: Int? = nil,
        inboxCapacity: Int = 512,
        requestTimeout: Duration = .seconds(10),
        idleTimeout: Duration = .seconds(60),
        maximumConnections: Int? = nil,
        authSecret: String? = nil,
        clientLimits: ClientLimits.Configuration = .init(),
        tls: TLSConfiguration? = nil,
        transports: Transports = .all
    ) {
        self.host = host
        self.port = port
        self.maximumPayload = maximumPayload
        self.maximumBatch = maximumBatch
        self.retention = retention
        self.heartbeat = heartbeat
        self.corsOrigins = corsOrigins
        self.maximumFrame = maximumFrame ?? maximumPayload + 4096
        self.inboxCapacity = inboxCapacity
        self.requestTimeout = requestTimeout
        self.idleTimeout = idleTimeout
        self.maximumConnections = maximumConnections ?? Self.defaultMaximumConnections()
        self.authSecret = authSecret
        self.clientLimits = clientLimits
        self.tls = tls
        self.transports = transports
    }

    /// Why this configuration must not start unless on purpose (`--allow-anonymous`): a
    /// server without a secret on an address other hosts can reach serves anyone there.
    public var exposureProblem: String? {
        guard self.authSecret == nil, !Self.isLoopback(self.host) else { return nil }
        return "refusing to serve anonymously on \(self.host), which other hosts can reach: "
            + "set --auth-secret (HERALD_AUTH_SECRET) so requests need tokens, "
            + "or pass --allow-anonymous (HERALD_ALLOW_ANONYMOUS=1) to serve anyone on purpose"
    }

    /// Whether `host` is a loopback address or name (`127.0.0.0/8`, `::1`, `localhost`).
    public static func isLoopback(_ host: String) -> Bool {
        let host = host.lowercased()
        if host == "localhost" || host.hasSuffix(".localhost") || host == "::1" || host == "[::1]" { return true }
        let octets = host.split(separator: ".", omittingEmptySubsequences: false)
        return octets.count == 4 && octets[0] == "127" && octets.allSatisfy { UInt8($0) != nil }
    }

    /// The largest batch body: room for many notifications, but bounded
    /// (16 × `maximumPayload`, at least 1 MiB, at most 64 MiB).
    public var maximumBatchBody: Int { min(64 << 20, max(1 << 20, self.maximumPayload * 16)) }

    /// File descriptors kept back from connections: refused connections still lingering
    /// (`ConnectionLimit.maximumLingering`, 256), the database pools at their largest
    /// (`--pool-size` up to 500, and the committers'), the LISTEN connection, the log, the
    /// event loops' own.
    public static let reservedFileDescriptors = 1024

    /// What the process's open-file limit allows, less `reservedFileDescriptors`.
    public static func defaultMaximumConnections() -> Int {
        var limit = rlimit()
        guard getrlimit(Int32(RLIMIT_NOFILE.rawValue), &limit) == 0, limit.rlim_cur != rlim_t.max else { return 10_000 }
        return max(16, Int(clamping: limit.rlim_cur) - Self.reservedFileDescriptors)
    }
}
