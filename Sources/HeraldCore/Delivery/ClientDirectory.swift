import Synchronization

/// The inboxes of this instance's subscriptions by client id, so an admin replay reaches
/// every connected subscriber of that client.
public final class ClientDirectory: Sendable {
    private let inboxes = Mutex<[String: [ObjectIdentifier: SubscriberInbox]]>([:])

    /// Creates an empty directory.
    public init() {}

    func add(_ inbox: SubscriberInbox, client: String) {
        self.inboxes.withLock { $0[client, default: [:]][ObjectIdentifier(inbox)] = inbox }
    }

    func remove(_ inbox: SubscriberInbox, client: String) {
        self.inboxes.withLock { inboxes in
            inboxes[client]?[ObjectIdentifier(inbox)] = nil
            if inboxes[client]?.isEmpty == true { inboxes[client] = nil }
        }
    }

    /// Hands `replay` to every subscription of its client here; returns how many.
    @discardableResult
    public func post(_ replay: CursorReplay) -> Int {
        let inboxes = self.inboxes.withLock { Array(($0[replay.client] ?? [:]).values) }
        for inbox in inboxes { inbox.post(replay) }
        return inboxes.count
    }
}
