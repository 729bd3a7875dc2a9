import Foundation
import JWTKit

/// The claims of a Herald token (JWT, HS256).
///
/// `sub` is the client id; `publish` and `subscribe` list topic patterns (`*` matches any
/// run of characters); `admin` allows everything; `exp` is required.
public struct TokenClaims: JWTPayload, Equatable {
    /// The client id.
    public var sub: SubjectClaim
    /// The expiry.
    public var exp: ExpirationClaim
    /// Topic patterns it may publish to.
    public var publish: [String]?
    /// Topic patterns it may subscribe to.
    public var subscribe: [String]?
    /// Whether it may do everything.
    public var admin: Bool?

    /// Creates claims.
    public init(subject: String, expiresAt: Date, publish: [String] = [], subscribe: [String] = [], admin: Bool = false) {
        self.sub = SubjectClaim(value: subject)
        self.exp = ExpirationClaim(value: expiresAt)
        self.publish = publish
        self.subscribe = subscribe
        self.admin = admin
    }

    /// Called by jwt-kit once the signature is verified: the token must not have expired.
    public func verify(using algorithm: some JWTAlgorithm) async throws {
        try self.exp.verifyNotExpired()
    }

    /// The principal these claims make, or why they make none (a client id or a pattern
    /// that is not valid).
    public func principal() throws(HeraldError) -> Principal {
        guard NameRules.isValidClientID(self.sub.value) else {
            throw HeraldError(.unauthorized, "the token's sub must be a client id (\(NameRules.clientPattern))")
        }
        func patterns(_ texts: [String]?, _ claim: String) throws(HeraldError) -> [TopicPattern] {
            var patterns: [TopicPattern] = []
            for text in texts ?? [] {
                guard let pattern = TopicPattern(text) else {
                    throw HeraldError(.unauthorized, "the token's \(claim) claim holds '\(text.prefix(80))', which is not a topic pattern")
                }
                patterns.append(pattern)
            }
            return patterns
        }
        return Principal(
            subject: self.sub.value,
            publish: try patterns(self.publish, "publish"),
            subscribe: try patterns(self.subscribe, "subscribe"),
            isAdmin: self.admin ?? false,
            expiresAt: self.exp.value
        )
    }
}
