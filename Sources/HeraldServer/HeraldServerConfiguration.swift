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

    /// Creates a configuration with the defaults of the wire contract.
    public init(
        host: String = "127.0.0.1",
        port: Int = 8080,
        maximumPayload: Int = 65536,
        maximumBatch: Int = 1000,
        retention: Duration = .seconds(7 * 86400)
    ) {
        self.host = host
        self.port = port
        self.maximumPayload = maximumPayload
        self.maximumBatch = maximumBatch
        self.retention = retention
    }

    /// The largest batch body: room for many notifications, but bounded
    /// (16 × `maximumPayload`, at least 1 MiB).
    public var maximumBatchBody: Int { max(1 << 20, self.maximumPayload * 16) }
}
