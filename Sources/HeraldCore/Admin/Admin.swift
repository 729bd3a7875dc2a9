import HeraldPostgres

/// The admin's operations, one implementation for the admin API and the `herald` command
/// line (which runs them on the database directly, with no server running): topics,
/// clients' cursors, replays and purges.
///
/// A replay is an admin set of a client's cursor (`CursorStore.set`): it may go backwards,
/// it is announced on the control channel so that every instance restarts that client's
/// connected subscribers there at once, and the client's next start on that topic begins
/// there whatever it asks for (once).
public struct Admin: Sendable {
    /// The log.
    public let store: NotificationStore
    /// The clients' cursors.
    public let cursors: CursorStore

    /// Creates the admin over `store` and `cursors`.
    public init(store: NotificationStore, cursors: CursorStore) {
        self.store = store
        self.cursors = cursors
    }

    /// The topics published to, in name order: at most `limit` after the name `after`.
    public func topics(after: String = "", limit: Int = 1000) async throws -> [TopicInfo] {
        try await self.store.topics(after: after, limit: limit)
    }

    /// One topic, or `not_found`.
    public func topic(_ name: String) async throws -> TopicInfo {
        guard let topic = try await self.store.topics(limit: 1, only: name).first else {
            throw HeraldError(.notFound, "no topic \(name)")
        }
        return topic
    }

    /// Sets `client`'s cursor on `topic` to `seq`: the next notification delivered to it
    /// there is `seq + 1`, live on connected subscribers.
    @discardableResult
    public func setCursor(client: String, topic: String, seq: Int64) async throws -> CursorReplay {
        try await self.cursors.set(client: client, topic: topic, seq: seq)
    }

    /// Replays `topic` for `client` from `start`; returns the replay (its `seq` is the
    /// cursor set: `seq + 1` comes next).
    @discardableResult
    public func replay(client: String, topic: String, from start: ReplayStart) async throws -> CursorReplay {
        switch start {
        case .fromSeq(let next):
            guard next >= 1 else { throw HeraldError(.invalidCursor, "a replay starts from a positive seq, got \(next)") }
            do {
                return try await self.cursors.set(client: client, topic: topic, seq: next - 1)
            } catch let error as HeraldError where error.kind == .invalidCursor {
                throw HeraldError(.invalidCursor, "seq \(next) cannot come next: it is past \(topic)'s last seq + 1")
            }
        case .since(let since):
            return try await self.cursors.set(client: client, topic: topic, seq: try await self.store.position(topic: topic, since: since))
        }
    }

    /// Forgets `client`'s cursor on `topic`, or `not_found`.
    public func forgetCursor(client: String, topic: String) async throws {
        guard try await self.cursors.forget(client: client, topic: topic) else {
            throw HeraldError(.notFound, "client \(client) has no cursor on \(topic)")
        }
    }

    /// Purges `topic` through `seq`.
    public func purge(topic: String, through seq: Int64) async throws -> PurgeResult {
        try await self.store.purge(topic: topic, through: seq)
    }
}
