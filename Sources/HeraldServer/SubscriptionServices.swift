import HeraldCore

/// What the subscribe transports need from the core.
struct SubscriptionServices: Sendable {
    let hub: Hub
    let store: NotificationStore
    let cursors: CursorStore

    /// A subscription for a transport; `wantsHeartbeats` false for one that keeps its
    /// connection alive by itself (WebSocket pings).
    func makeSubscription(
        client: String?, inboxCapacity: Int, sink: (any LiveSink)? = nil, wantsHeartbeats: Bool = true
    ) -> Subscription {
        Subscription(
            hub: self.hub, store: self.store, cursors: self.cursors, clientID: client, inboxCapacity: inboxCapacity,
            sink: sink, wantsHeartbeats: wantsHeartbeats
        )
    }
}
