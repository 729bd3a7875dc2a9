/// The settings of the HTTP side of `herald serve`.
public struct HeraldServerConfiguration: Sendable {
    /// The address to listen on.
    public var host: String
    /// The port to listen on (0 picks a free one).
    public var port: Int
    /// The largest publish body, in bytes (`--max-payload`).
    public var maximumPayload: Int
    /// The most notifications in a batch (`--max-batch`).
    public var maximumBatch: Int
    /// How long notifications are kept (`--retention`).
    public var retention: Duration
    /// How often streams send a keep-alive (`--heartbeat`).
    public var heartbeat: Duration
    /// Origins allowed to read the API from a browser on another origin (`--cors-origin`);
    /// `*` allows any. Empty: same origin only.
    public var corsOrigins: [String]
    /// The largest WebSocket frame accepted or sent.
    public var maximumFrame: Int
    /// How many notifications a subscriber's inbox holds before it catches up from the database.
    public var inboxCapacity: Int

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
        inboxCapacity: Int = 512
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
    }

    /// The largest batch body: room for many notifications, but bounded
    /// (16 × `maximumPayload`, at least 1 MiB).
    public var maximumBatchBody: Int { max(1 << 20, self.maximumPayload * 16) }
}
