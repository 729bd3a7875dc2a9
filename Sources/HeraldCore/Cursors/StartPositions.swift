/// Where delivery starts, per topic: the explicit cursor, else the client's stored
/// cursor, else "now" (the topic's last seq when the subscription began).
public enum StartPositions {
    /// Resolves every topic's start.
    public static func resolve(
        topics: [String],
        explicit: Cursor,
        client: String?,
        cursors: CursorStore?,
        store: NotificationStore
    ) async throws -> Cursor {
        var stored: [String: Int64] = [:]
        if let client, let cursors, topics.contains(where: { explicit[$0] == nil }) {
            stored = try await cursors.cursors(client: client)
        }
        let missing = topics.filter { explicit[$0] == nil && stored[$0] == nil }
        let now = missing.isEmpty ? [:] : try await store.lastSeqs(of: missing)
        var cursor = Cursor()
        for topic in topics {
            cursor[topic] = explicit[topic] ?? stored[topic] ?? now[topic] ?? 0
        }
        return cursor
    }
}
