import HeraldCore

/// What the subscribe transports need from the core.
struct SubscriptionServices: Sendable {
    let hub: Hub
    let policy: CursorPolicy

    /// A subscription for a transport; `wantsHeartbeats` false for one that keeps its
    /// connection alive by itself (WebSocket pings).
    func makeSubscription(
        client: String?, inboxCapacity: Int, sink: (any LiveSink)? = nil, wantsHeartbeats: Bool = true
    ) -> Subscription {
        Subscription(
            hub: self.hub, policy: self.policy, clientID: client, inboxCapacity: inboxCapacity, sink: sink,
            wantsHeartbeats: wantsHeartbeats
        )
    }
}
