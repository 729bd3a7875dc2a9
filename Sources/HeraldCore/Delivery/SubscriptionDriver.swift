/// Runs a subscription's delivery from tasks that exist only while it has something to do.
///
/// A stream may stay open for days while its `LiveSink` writes every live notification
/// from the event loop; a task waiting in `next()` all that time would keep its stack
/// (about 2 KiB a stream, docs/performance.md). So while the sink delivers (or the
/// subscription has no topics) and nothing is pending, the subscription parks in its
/// inbox in place of a task, and the task ends; what the inbox gets next (a message, an
/// overflow, closing, a heartbeat) starts a new task, which goes on where the last one
/// stopped.
public final class SubscriptionDriver: @unchecked Sendable {
    // @unchecked Sendable: the subscription is used by one task at a time. A task parks it
    // as its last use of it (under the inbox's lock), and only the inbox's wake-up after
    // that starts the next task.
    private let subscription: Subscription
    private let deliver: @Sendable (Subscription, Subscription.Next) async -> Bool

    private init(_ subscription: sending Subscription, deliver: @escaping @Sendable (Subscription, Subscription.Next) async -> Bool) {
        self.subscription = subscription
        self.deliver = deliver
    }

    /// Starts delivering `subscription` from a new task: `deliver` gets what each `next()`
    /// returns, in order and one call at a time, and returns whether to go on. It must stop
    /// at `.closed`; it may use the subscription only during its call.
    public static func start(
        _ subscription: sending Subscription,
        deliver: @escaping @Sendable (Subscription, Subscription.Next) async -> Bool
    ) {
        SubscriptionDriver(subscription, deliver: deliver).resume()
    }

    /// Goes on in a new task (started, or woken from the inbox).
    func resume() {
        Task { await self.run() }
    }

    private func run() async {
        while let next = await self.subscription.next(parking: self) {
            guard await self.deliver(self.subscription, next) else { return }
        }
    }
}
