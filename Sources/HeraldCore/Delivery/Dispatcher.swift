import HeraldPostgres
import Logging
import ServiceLifecycle
import Synchronization

/// Turns the instance's LISTEN notifications into deliveries and wake-ups, and the
/// control channel's admin notices into live replays and purge marks.
///
/// Publishers send `pg_notify('herald', 'topic:last_seq')` once per topic per
/// transaction. For each, the dispatcher asks the hub to read the topic's new rows once for
/// all its live subscribers, and wakes the topic's long-polls. When the LISTEN connection
/// is (re)established it re-reads every topic with subscribers and wakes every long-poll,
/// because notifications sent while it was down are lost; a periodic sweep does the same
/// as a safety net. It also ticks the subscribers' heartbeat.
public final class Dispatcher: Service, Sendable {
    /// The NOTIFY channel Herald publishes on.
    public static let channel = "herald"
    /// The channels a dispatcher's listener listens on: publishing's and the admin's.
    public static let channels = [channel, CursorStore.controlChannel]

    let listener: PostgresListener
    let signals: WakeSignals
    let hub: Hub
    let heartbeat: Duration
    let sweepInterval: Duration
    let logger: Logger
    /// Whether the LISTEN connection came up once (later connections are reconnects).
    private let hasConnected = Atomic<Bool>(false)

    /// Creates a dispatcher for `listener`'s events.
    public init(
        listener: PostgresListener,
        signals: WakeSignals,
        hub: Hub,
        heartbeat: Duration = .seconds(15),
        sweepInterval: Duration = .seconds(30),
        logger: Logger = Logger(label: "herald.dispatcher")
    ) {
        self.listener = listener
        self.signals = signals
        self.hub = hub
        self.heartbeat = heartbeat
        self.sweepInterval = sweepInterval
        self.logger = logger
    }

    /// Whether the LISTEN connection is up.
    public var isListening: Bool { self.listener.isListening }

    /// Consumes the listener's events until graceful shutdown.
    public func run() async {
        self.listener.start()
        // Cancellation (another service of the group failed) stops it as shutdown does.
        await withTaskCancellationHandler {
            await self.dispatch()
        } onCancel: {
            self.listener.stop()
        }
    }

    private func dispatch() async {
        await withGracefulShutdownHandler {
            await withDiscardingTaskGroup { group in
                group.addTask { await self.hub.runReads() }
                group.addTask { await self.every(self.sweepInterval) { await self.hub.refresh() } }
                group.addTask { await self.every(self.heartbeat) { self.hub.heartbeat() } }
                for await event in self.listener.events {
                    self.handle(event)
                }
                self.hub.finish()
                group.cancelAll()
            }
        } onGracefulShutdown: {
            self.listener.stop()
        }
    }

    private func handle(_ event: PostgresListener.Event) {
        switch event {
        case .notification(let notification) where notification.channel == CursorStore.controlChannel:
            // An admin change: a replay reaches the client's subscriptions here; a purge's
            // mark names the resets it causes.
            if let replay = CursorReplay(payload: notification.payload) {
                self.hub.clients.post(replay)
            } else if !self.hub.store.purges.apply(payload: notification.payload) {
                self.logger.debug("unknown control notice", metadata: ["payload": "\(notification.payload)"])
            }
        case .notification(let notification):
            guard notification.channel == Self.channel, let wake = Self.parse(notification.payload) else { return }
            self.hub.wake(topic: wake.topic, seq: wake.seq)
            self.signals.wake(topic: wake.topic)
        case .connected, .missed:
            if case .connected = event {
                if self.hasConnected.exchange(true, ordering: .relaxed) { HeraldMetrics.listenerReconnected() }
            }
            // Notifications may have been lost (while disconnected, or dropped while this
            // dispatcher fell behind): everyone reads again.
            self.logger.debug("LISTEN connection ready, or events were dropped: re-reading")
            self.signals.wakeAll()
            Task {
                await self.hub.store.loadPurges()
                await self.hub.refresh()
            }
        case .disconnected(let error):
            self.logger.debug("LISTEN connection down", metadata: ["error": "\(error)"])
            if error.sqlState == PostgresError.readOnlySQLTransaction {
                // Its server turned read-only: the pools' connections there would read a log
                // that no longer grows. They reconnect, as the listener does.
                self.hub.store.retireConnections()
            }
        }
    }

    private func every(_ interval: Duration, _ body: @Sendable () async -> Void) async {
        while !Task.isCancelled {
            do {
                try await Task.sleep(for: interval)
            } catch {
                return
            }
            await body()
        }
    }

    /// Parses a `topic:seq` payload.
    static func parse(_ payload: String) -> (topic: String, seq: Int64)? {
        guard let colon = payload.lastIndex(of: ":"), let seq = Int64(payload[payload.index(after: colon)...]) else {
            return nil
        }
        return (String(payload[..<colon]), seq)
    }
}
