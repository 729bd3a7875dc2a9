import ArgumentParser
import Foundation
import HeraldCore

/// `herald token`: mints a token for a client.
struct Token: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Mint a token (JWT, HS256) with the server's secret.",
        discussion: """
            The token is the last line printed (on standard output; what it allows goes to \
            standard error): TOKEN=$(herald token --sub alice --subscribe 'orders.*'). Patterns are \
            topic names in which * matches any run of characters.
            """
    )

    @Option(name: .customLong("sub"), help: ArgumentHelp("The client id the token is for.", valueName: "client"))
    var subject: String

    @Option(help: ArgumentHelp("A topic pattern it may publish to (repeat for more).", valueName: "pattern"))
    var publish: [String] = []

    @Option(help: ArgumentHelp("A topic pattern it may subscribe to (repeat for more).", valueName: "pattern"))
    var subscribe: [String] = []

    @Flag(help: "It may do everything: any topic, any client's cursors, /metrics.")
    var admin = false

    @Option(help: ArgumentHelp("How long it is valid: 90s, 15m, 24h, 7d. (default: 24h)", valueName: "duration"))
    var ttl: String?

    @Option(
        name: .customLong("auth-secret"),
        help: ArgumentHelp("The server's secret. (env: HERALD_AUTH_SECRET)", valueName: "secret")
    )
    var authSecret: String?

    static let ttlSetting = Setting.duration("ttl", .seconds(1)...(.seconds(10 * 365 * 86400)), default: .seconds(86400))

    func validate() throws {
        guard NameRules.isValidClientID(self.subject) else { throw ValidationError("--sub must match \(NameRules.clientPattern)") }
        for pattern in self.publish + self.subscribe where TopicPattern(pattern) == nil {
            throw ValidationError("'\(pattern)' is not a topic pattern: a topic name in which * matches any run of characters")
        }
        try Self.ttlSetting.validate(text: self.ttl)
        guard (self.authSecret ?? Environment.value("auth-secret")).map({ !$0.isEmpty }) == true else {
            throw ValidationError("give the server's secret: --auth-secret or HERALD_AUTH_SECRET")
        }
    }

    func run() async throws {
        let ttl = try Self.ttlSetting.resolve(text: self.ttl)
        // NumericDate in whole seconds, as most JWT libraries expect.
        let expiresAt = Date(timeIntervalSince1970: (Date().timeIntervalSince1970 + Double(ttl.components.seconds)).rounded(.down))
        let claims = TokenClaims(
            subject: self.subject, expiresAt: expiresAt, publish: self.publish, subscribe: self.subscribe, admin: self.admin
        )
        let token = try await Authenticator(secret: self.authSecret ?? Environment.value("auth-secret")).sign(claims)
        var summary = "token for '\(self.subject)'"
        if self.admin { summary += ", admin" }
        if !self.publish.isEmpty { summary += ", publish \(self.publish.joined(separator: " "))" }
        if !self.subscribe.isEmpty { summary += ", subscribe \(self.subscribe.joined(separator: " "))" }
        summary += ", expires \(ISO8601DateFormatter().string(from: expiresAt))"
        FileHandle.standardError.write(Data((summary + "\n").utf8))
        print(token)
    }
}
