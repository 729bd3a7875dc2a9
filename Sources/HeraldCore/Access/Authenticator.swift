import Foundation
import JWTKit
import Synchronization

/// Turns a request's token into a `Principal`: JWT HS256 with the server's secret
/// (`--auth-secret`), verified by jwt-kit.
///
/// Tokens verified once are kept (at most `cacheCapacity`, with their expiry checked on
/// every use), so the hot paths (a single publish, an SSE connect) answer a known token
/// without waiting: `cached(_:)` says at once what it can, and `authenticate(_:)` verifies
/// the rest.
public final class Authenticator: Sendable {
    /// Whether requests need a token.
    public let isEnabled: Bool
    private let keys: Task<JWTKeyCollection, Never>?
    private let verified = Mutex<[String: Principal]>([:])

    /// The most verified tokens remembered; beyond it the memory starts over.
    public static let cacheCapacity = 4096
    /// The longest token accepted (a header or query value beyond it is refused unread).
    public static let maximumTokenLength = 8192

    /// Authentication with `secret`, or none (every request unrestricted) when nil.
    public init(secret: String?) {
        guard let secret else {
            self.isEnabled = false
            self.keys = nil
            return
        }
        self.isEnabled = true
        self.keys = Task { await JWTKeyCollection().add(hmac: HMACKey(from: secret), digestAlgorithm: .sha256) }
    }

    /// The answer for `token` known without verifying: unrestricted with authentication
    /// off, `401` for no token or an expired known one, the principal of a known one; nil
    /// when it has to be verified (`authenticate`).
    public func cached(_ token: String?) -> Result<Principal, HeraldError>? {
        guard self.isEnabled else { return .success(.unrestricted) }
        guard let token, !token.isEmpty else { return .failure(Self.missing) }
        guard let principal = self.verified.withLock({ $0[token] }) else { return nil }
        guard let expiresAt = principal.expiresAt, expiresAt > Date() else { return .failure(Self.expired) }
        return .success(principal)
    }

    /// The principal of `token`, or `401 unauthorized` (none, expired, badly signed,
    /// malformed, or claims that are not valid).
    public func authenticate(_ token: String?) async throws(HeraldError) -> Principal {
        if let known = self.cached(token) { return try known.get() }
        guard let token, let keys = self.keys else { throw Self.missing }
        guard token.utf8.count <= Self.maximumTokenLength else { throw HeraldError(.unauthorized, "the token is too long") }
        let claims: TokenClaims
        do {
            claims = try await keys.value.verify(token, as: TokenClaims.self)
        } catch let error as JWTError where error.errorType == .claimVerificationFailure {
            throw Self.expired
        } catch {
            throw HeraldError(.unauthorized, "the token is not valid (malformed, or not signed with this server's secret)")
        }
        let principal = try claims.principal()
        self.verified.withLock {
            if $0.count >= Self.cacheCapacity { $0.removeAll(keepingCapacity: true) }
            $0[token] = principal
        }
        return principal
    }

    /// Signs `claims` with the secret: a token (`herald token`).
    public func sign(_ claims: TokenClaims) async throws -> String {
        guard let keys = self.keys else { throw HeraldError(.unauthorized, "no secret to sign with") }
        return try await keys.value.sign(claims)
    }

    static let missing = HeraldError(
        .unauthorized, "a token is needed: send Authorization: Bearer <token> (SSE and WebSocket may use access_token=<token>)"
    )
    static let expired = HeraldError(.unauthorized, "the token has expired")
}
