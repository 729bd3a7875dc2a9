import HeraldPostgres
import Logging
import ServiceLifecycle

/// Turns the instance's LISTEN notifications into wake-ups.
///
/// Publishers send `pg_notify('herald', 'topic:last_seq')` once per topic per
/// transaction; the dispatcher wakes that topic's waiters. When the LISTEN connection is
/// (re)established it wakes every waiter, because notifications sent while it was down
/// are lost: they read again and find what was committed meanwhile.
public final class Dispatcher: Service, Sendable {
    /// The NOTIFY channel Herald publishes on.
    public static let channel = "herald"

    let listener: PostgresListener
    let signals: WakeSignals
    let logger: Logger

    /// Creates a dispatcher for `listener`'s events.
    public init(listener: PostgresListener, signals: WakeSignals, logger: Logger = Logger(label: "herald.dispatcher")) {
        self.listener = listener
        self.signals = signals
        self.logger = logger
    }

    /// Whether the LISTEN connection is up.
    public var isListening: Bool { self.listener.isListening }

    /// Consumes the listener's events until graceful shutdown.
    public func run() async {
        self.listener.start()
        await withGracefulShutdownHandler {
            for await event in self.listener.events {
                switch event {
                case .notification(let notification):
                    guard notification.channel == Self.channel, let wake = Self.parse(notification.payload) else { continue }
                    self.signals.wake(topic: wake.topic)
                case .connected:
                    self.logger.debug("LISTEN connection ready")
                    self.signals.wakeAll()
                case .disconnected(let error):
                    self.logger.debug("LISTEN connection down", metadata: ["error": "\(error)"])
                }
            }
        } onGracefulShutdown: {
            self.listener.stop()
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
