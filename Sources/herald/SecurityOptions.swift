import ArgumentParser
import HeraldCore

/// `serve`'s options for who may use the server: tokens, anonymous exposure, per-client limits.
struct SecurityOptions: ParsableArguments {
    @Option(
        name: .customLong("auth-secret"),
        help: ArgumentHelp(
            "The secret of HS256 tokens (JWT); with it every request needs a token. Prefer the environment, "
                + "which other local users cannot read from the process list. (env: HERALD_AUTH_SECRET)",
            valueName: "secret"
        )
    )
    var authSecret: String?

    @Flag(
        name: .customLong("allow-anonymous"),
        help: "Serve without --auth-secret on an address other hosts can reach, on purpose. (env: HERALD_ALLOW_ANONYMOUS=1)"
    )
    var allowAnonymous = false

    @Option(
        name: .customLong("publish-rate"),
        help: ArgumentHelp(
            "Publishes per second per client (its token's sub, else its IP address); more get 429. 0: no limit. (env: HERALD_PUBLISH_RATE, default: 0)",
            valueName: "count"
        )
    )
    var publishRate: Int?

    @Option(
        name: .customLong("publish-burst"),
        help: ArgumentHelp(
            "Publishes a client may make at once after a pause. (env: HERALD_PUBLISH_BURST, default: the rate, at least 1)",
            valueName: "count"
        )
    )
    var publishBurst: Int?

    @Option(
        name: .customLong("max-client-streams"),
        help: ArgumentHelp(
            "SSE and WebSocket connections open at once per client id on this server; more get 429. 0: no limit. (env: HERALD_MAX_CLIENT_STREAMS, default: 100)",
            valueName: "count"
        )
    )
    var maxClientStreams: Int?

    func validate() throws {
        try Self.publishRate.validate(self.publishRate)
        try Self.publishBurst.validate(self.publishBurst)
        try Self.maxClientStreams.validate(self.maxClientStreams)
        if let authSecret, authSecret.isEmpty { throw ValidationError("--auth-secret must not be empty") }
    }

    /// The secret, from the command line or the environment.
    var secret: String? { self.authSecret ?? Environment.value("auth-secret") }

    /// Whether anonymous exposure was allowed on purpose.
    var anonymousAllowed: Bool { Environment.flag(self.allowAnonymous, "allow-anonymous") }

    /// The per-client limits.
    func limits() throws -> ClientLimits.Configuration {
        let rate = try Self.publishRate.resolve(self.publishRate)
        let burst = try Self.publishBurst.resolve(self.publishBurst)
        return ClientLimits.Configuration(
            publishRate: Double(rate),
            publishBurst: Double(burst > 0 ? burst : max(1, rate)),
            connectionsPerClient: try Self.maxClientStreams.resolve(self.maxClientStreams)
        )
    }

    static let publishRate = Setting.integer("publish-rate", 0...1_000_000, default: 0)
    /// 0 stands for "the rate" (the default); given, it is at least 1.
    static let publishBurst = Setting.integer("publish-burst", 0...1_000_000, default: 0)
    static let maxClientStreams = Setting.integer("max-client-streams", 0...1_000_000, default: 100)
}
