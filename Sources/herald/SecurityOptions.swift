import ArgumentParser
import HeraldCore
import NIOSSL

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

    @Option(
        name: .customLong("tls-cert"),
        help: ArgumentHelp(
            "A PEM certificate (chain) to serve HTTPS with, HTTP/2 and HTTP/1.1 by ALPN; needs --tls-key. (env: HERALD_TLS_CERT)",
            valueName: "path"
        )
    )
    var tlsCert: String?

    @Option(
        name: .customLong("tls-key"),
        help: ArgumentHelp("The PEM private key of --tls-cert. (env: HERALD_TLS_KEY)", valueName: "path")
    )
    var tlsKey: String?

    func validate() throws {
        if self.tlsCert != nil || self.tlsKey != nil,
            ((self.tlsCert ?? Environment.value("tls-cert")) == nil) != ((self.tlsKey ?? Environment.value("tls-key")) == nil)
        {
            throw ValidationError("--tls-cert and --tls-key go together")
        }
        try Self.publishRate.validate(self.publishRate)
        try Self.publishBurst.validate(self.publishBurst)
        try Self.maxClientStreams.validate(self.maxClientStreams)
        if let authSecret, authSecret.isEmpty { throw ValidationError("--auth-secret must not be empty") }
    }

    /// The secret, from the command line or the environment.
    var secret: String? { self.authSecret ?? Environment.value("auth-secret") }

    /// Whether anonymous exposure was allowed on purpose.
    var anonymousAllowed: Bool { Environment.flag(self.allowAnonymous, "allow-anonymous") }

    /// The TLS configuration of `--tls-cert` and `--tls-key`, or nil for plain HTTP.
    func tls() throws -> TLSConfiguration? {
        let cert = self.tlsCert ?? Environment.value("tls-cert")
        let key = self.tlsKey ?? Environment.value("tls-key")
        guard let cert, let key else {
            if cert != nil || key != nil { throw ConfigurationError(message: "HERALD_TLS_CERT and HERALD_TLS_KEY go together") }
            return nil
        }
        do {
            let chain = try NIOSSLCertificate.fromPEMFile(cert).map { NIOSSLCertificateSource.certificate($0) }
            let privateKey = try NIOSSLPrivateKey(file: key, format: .pem)
            return TLSConfiguration.makeServerConfiguration(certificateChain: chain, privateKey: .privateKey(privateKey))
        } catch {
            throw ConfigurationError(message: "cannot use --tls-cert \(cert) and --tls-key \(key): \(error)")
        }
    }

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
