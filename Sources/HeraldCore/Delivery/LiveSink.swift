import NIOCore

/// A transport's way of writing live notifications straight to its connection, without
/// waking the subscription's task for each one.
///
/// While a subscription is live on every topic and has nothing queued, it may hand its
/// positions to the sink (`SubscriberInbox.enterDirect`); from then on the hub's offers
/// go to the sink, which writes them in order. When the sink cannot write (the client
/// reads too slowly) it leaves (`SubscriberInbox.leaveDirect`), as an overflow: the
/// subscription takes its positions back and catches up from PostgreSQL.
public protocol LiveSink: AnyObject, Sendable {
    /// Takes the subscription's positions; called before the sink gets notifications.
    func activate(_ positions: Positions)
    /// Gives the positions back and stops delivering (the subscription takes over again);
    /// nil if it had stopped already.
    func deactivate() -> Positions?
    /// The positions as they stand while it delivers (nil when it does not), without
    /// taking them back.
    var currentPositions: Positions? { get }
    /// The event loop the sink writes on, or nil when it may write from any thread. The
    /// hub hands a notification to all the sinks of one loop in one hop to that loop
    /// (a thousand subscribers cost two hops, not a thousand).
    var eventLoop: (any EventLoop)? { get }
    /// Writes a topic's next notifications (called in seq order per topic, on
    /// `eventLoop` when it has one).
    func write(_ batch: [EncodedNotification], topic: String)
    /// Writes the transport's keep-alive, if it has one (on `eventLoop` when it has one).
    /// The hub calls it every heartbeat while delivery is direct, instead of waking the
    /// subscription's task.
    func heartbeat()
    /// The hub could not hand `batch` over (its loop's delivery queue was full): the sink
    /// leaves direct delivery as when its socket is full, and the subscription reads the
    /// batch from PostgreSQL. Called from any thread.
    func dropped(_ batch: [EncodedNotification], topic: String)
}
