import HeraldServer

/// The ranges of `serve`'s options: one place, for the command line and the environment.
enum ServeSettings {
    static let port = Setting.integer("port", 0...65535, default: 8080)
    static let maxPayload = Setting.integer("max-payload", 1...16 << 20, default: 65536)
    static let maxBatch = Setting.integer("max-batch", 1...10_000, default: 1000)
    static let poolSize = Setting.integer("pool-size", 1...500, default: 8)
    static let eventLoops = Setting.integer("event-loops", 1...256, default: 1)
    static let committers = Setting.integer("committers", 1...16, default: 2)
    static let retention = Setting.duration("retention", .seconds(60)...(.seconds(100 * 365 * 86400)), default: .seconds(7 * 86400))
    static let heartbeat = Setting.duration("heartbeat", .milliseconds(100)...(.seconds(3600)), default: .seconds(15))
    static let shutdownTimeout = Setting.duration("shutdown-timeout", .zero...(.seconds(3600)), default: .seconds(10))
    static let requestTimeout = Setting.duration("request-timeout", .milliseconds(100)...(.seconds(3600)), default: .seconds(10))
    static let idleTimeout = Setting.duration("idle-timeout", .seconds(1)...(.seconds(86400)), default: .seconds(60))
    static let publishTimeout = Setting.duration("publish-timeout", .milliseconds(100)...(.seconds(300)), default: .seconds(5))

    /// `--max-connections`; its default is what the open-file limit allows now, less a
    /// reserve (read after `OpenFileLimit.raise()`).
    static func maxConnections() -> Setting<Int> {
        .integer("max-connections", 1...1_000_000, default: HeraldServerConfiguration.defaultMaximumConnections())
    }
}
