import HeraldCore

/// What the subscribe transports need from the core.
struct SubscriptionServices: Sendable {
    let hub: Hub
    let store: NotificationStore
    let cursors: CursorStore

    func makeSubscription(client: String?, inboxCapacity: Int, sink: (any LiveSink)? = nil) -> Subscription {
        Subscription(
            hub: self.hub, store: self.store, cursors: self.cursors, clientID: client, inboxCapacity: inboxCapacity, sink: sink
        )
    }
}
