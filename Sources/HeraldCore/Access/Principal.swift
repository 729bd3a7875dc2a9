import Foundation

/// Who a request comes from and what it may do: the one access check of every transport.
///
/// With authentication off (no `--auth-secret`) every request is `unrestricted`: it may do
/// anything, and names its client id itself. With authentication on, a request carries a
/// token (`Authenticator`) whose claims become a principal: `sub` is its client id,
/// `publish` and `subscribe` list the topic patterns it may use, `admin` allows
/// everything (any topic, any client's cursors, `/metrics`), and `exp` ends it.
public struct Principal: Sendable {
    /// The token's subject (its client id); nil when authentication is off.
    public let subject: String?
    /// The topics it may publish to.
    public let publish: [TopicPattern]
    /// The topics it may subscribe to, read or poll.
    public let subscribe: [TopicPattern]
    /// Whether it may do everything.
    public let isAdmin: Bool
    /// When its token expires; nil when authentication is off.
    public let expiresAt: Date?

    /// Creates a principal from a token's claims.
    public init(subject: String, publish: [TopicPattern], subscribe: [TopicPattern], isAdmin: Bool, expiresAt: Date) {
        self.subject = subject
        self.publish = publish
        self.subscribe = subscribe
        self.isAdmin = isAdmin
        self.expiresAt = expiresAt
    }

    private init() {
        self.subject = nil
        self.publish = []
        self.subscribe = []
        self.isAdmin = true
        self.expiresAt = nil
    }

    /// Any request while authentication is off.
    public static let unrestricted = Principal()

    /// What a request does with a topic.
    public enum Action: String, Sendable {
        case publish
        case subscribe
    }

    /// Whether it may do `action` on `topic`.
    public func may(_ action: Action, _ topic: String) -> Bool {
        if self.isAdmin { return true }
        let patterns = action == .publish ? self.publish : self.subscribe
        return patterns.contains { $0.matches(topic) }
    }

    /// Checks `action` on every topic: `403 forbidden` naming the first one not allowed.
    public func authorize(_ action: Action, topics: some Sequence<String>) throws(HeraldError) {
        if self.isAdmin { return }
        for topic in topics where !self.may(action, topic) {
            throw HeraldError(.forbidden, "this token may not \(action.rawValue) to '\(topic.prefix(140))'")
        }
    }

    /// Checks `action` on one topic.
    public func authorize(_ action: Action, topic: String) throws(HeraldError) {
        try self.authorize(action, topics: CollectionOfOne(topic))
    }

    /// The client id a request acts as, given the `client` it names (if any): with a
    /// token, its `sub` (naming another client is `403 forbidden`, except for an admin);
    /// without authentication, the one named.
    public func clientID(requested: String?) throws(HeraldError) -> String? {
        guard let subject = self.subject else { return requested }
        guard let requested, requested != subject else { return subject }
        guard self.isAdmin else {
            throw HeraldError(.forbidden, "this token is client '\(subject)'; it may not act as '\(requested.prefix(140))'")
        }
        return requested
    }

    /// Checks access to a client's own resources (its cursors): the client itself or an admin.
    public func authorizeClient(_ client: String) throws(HeraldError) {
        guard !self.isAdmin, client != self.subject else { return }
        throw HeraldError(.forbidden, "only client '\(client.prefix(140))' itself or an admin token may see this")
    }

    /// Checks an admin-only request (`/metrics`, the admin API).
    public func authorizeAdmin() throws(HeraldError) {
        guard !self.isAdmin else { return }
        throw HeraldError(.forbidden, "this needs an admin token")
    }

    /// How long until the token expires (never when authentication is off).
    public func remaining(now: Date = Date()) -> Duration? {
        guard let expiresAt = self.expiresAt else { return nil }
        // Clamped: a token may be signed to expire in a million years.
        let milliseconds = min(max(0, (expiresAt.timeIntervalSince(now) * 1000).rounded(.up)), Double(Int64.max / 2))
        return .milliseconds(Int64(milliseconds))
    }
}
