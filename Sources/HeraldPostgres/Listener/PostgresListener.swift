import Glibc
import Logging
import Synchronization

import class Foundation.Thread

/// A dedicated LISTEN connection that yields notifications as an `AsyncSequence`.
///
/// The connection is separate from any pool and has its own thread, which waits on the
/// socket with `poll(2)` and so never blocks Swift's cooperative pool. When the connection
/// fails or is lost it reconnects with exponential back-off; each (re)connection is
/// announced by `.connected`, because notifications sent while it was down are gone and
/// consumers must re-read what they may have missed. An idle connection is checked every
/// `healthCheckInterval`, so a silently dead one is noticed too, and so is a server that
/// turned read-only (`PostgresQuery.serverIsReadOnly`): the listener then reconnects, through the connection
/// string's hosts, to the writable one.
///
/// The events wait for their consumer in a buffer of `bufferSize`; when it is full, newer
/// notifications are dropped and `.missed` follows as soon as there is room, so the
/// consumer re-reads instead of the buffer growing without bound.
public final class PostgresListener: Sendable {
    /// What the listener reports.
    public enum Event: Sendable {
        /// LISTEN is in place on a new connection; anything sent before may have been missed.
        case connected
        /// A notification arrived.
        case notification(PostgresNotification)
        /// The connection failed or was lost; it is being re-established.
        case disconnected(PostgresError)
        /// The consumer fell behind and notifications were dropped: re-read what may have
        /// been missed.
        case missed
    }

    /// The events, for one consumer. The sequence ends after `stop()`.
    public let events: AsyncStream<Event>
    private let continuation: AsyncStream<Event>.Continuation
    private let connectionString: String
    private let channels: [String]
    private let applicationName: String
    private let healthCheckInterval: Duration
    private let logger: Logger
    private let listening = Atomic<Bool>(false)
    private let pid = Atomic<Int32>(0)
    private let stopRequested = Atomic<Bool>(false)
    /// Whether events were dropped and `.missed` is owed.
    private let behind = Atomic<Bool>(false)
    /// A pipe whose read end the thread polls, so `stop()` wakes it at once.
    private let wakeRead: Int32
    private let wakeWrite: Int32

    /// Creates a listener for `channels`; call `start()` to connect.
    public init(
        connectionString: String,
        channels: [String],
        applicationName: String = "herald-listener",
        healthCheckInterval: Duration = .seconds(5),
        bufferSize: Int = 10_000,
        logger: Logger = Logger(label: "herald.listener")
    ) {
        self.connectionString = connectionString
        self.channels = channels
        self.applicationName = applicationName
        self.healthCheckInterval = healthCheckInterval
        self.logger = logger
        (self.events, self.continuation) = AsyncStream.makeStream(of: Event.self, bufferingPolicy: .bufferingOldest(bufferSize))
        var fds: [Int32] = [-1, -1]
        let created = pipe(&fds)
        precondition(created == 0, "pipe() failed: \(errno)")
        // Not inherited by programs Herald starts (the embedded PostgreSQL lives on).
        _ = fcntl(fds[0], F_SETFD, FD_CLOEXEC)
        _ = fcntl(fds[1], F_SETFD, FD_CLOEXEC)
        self.wakeRead = fds[0]
        self.wakeWrite = fds[1]
    }

    // The pipe is closed only here, when nothing can use it any more: closed by the thread
    // on its way out, it raced `stop()`'s write, which could then land in whatever socket
    // had been given the same descriptor number meanwhile (a database connection).
    deinit {
        close(self.wakeRead)
        close(self.wakeWrite)
    }

    /// Whether LISTEN is in place right now.
    public var isListening: Bool { self.listening.load(ordering: .acquiring) }

    /// The server PID of the current connection (0 while disconnected).
    public var backendPID: Int32 { self.pid.load(ordering: .acquiring) }

    /// Starts the listener's thread.
    public func start() {
        let thread = Thread { [self] in self.loop() }
        thread.name = "herald-listen"
        thread.start()
    }

    /// Closes the connection and ends the thread and the event sequence.
    public func stop() {
        guard !self.stopRequested.exchange(true, ordering: .acquiringAndReleasing) else { return }
        var byte: UInt8 = 1
        _ = write(self.wakeWrite, &byte, 1)
    }

    private func loop() {
        var machine = ListenerStateMachine()
        var action = ListenerStateMachine.Action.connect
        while true {
            if self.stopRequested.load(ordering: .acquiring) { action = machine.stop() }
            switch action {
            case .stop:
                self.listening.store(false, ordering: .releasing)
                self.continuation.finish()
                return
            case .wait(let milliseconds):
                _ = self.waitForWakeup(socket: -1, milliseconds: milliseconds)
                action = machine.backoffElapsed()
            case .connect:
                do {
                    let connection = try LibPQConnection.connect(self.connectionString, applicationName: self.applicationName)
                    for channel in self.channels {
                        try connection.simpleQuery("LISTEN \(Self.quotedIdentifier(channel))")
                    }
                    machine.connected()
                    self.pid.store(connection.backendPID, ordering: .releasing)
                    self.listening.store(true, ordering: .releasing)
                    self.send(.connected)
                    let error = self.listen(on: connection)
                    connection.close()
                    self.listening.store(false, ordering: .releasing)
                    self.pid.store(0, ordering: .releasing)
                    if let error {
                        self.logger.warning("LISTEN connection lost, reconnecting", metadata: ["error": "\(error)"])
                        self.send(.disconnected(error))
                    }
                } catch {
                    let error = error as? PostgresError ?? PostgresError(kind: .connection, message: "\(error)")
                    self.logger.debug("LISTEN connection failed", metadata: ["error": "\(error)"])
                    self.send(.disconnected(error))
                }
                action = machine.failed(jitter: Double.random(in: 0.8...1.2))
            }
        }
    }

    /// Yields notifications until the connection fails (returns the error) or `stop()`.
    private func listen(on connection: LibPQConnection) -> PostgresError? {
        let intervalMilliseconds = Int(self.healthCheckInterval.wholeMilliseconds)
        while !self.stopRequested.load(ordering: .acquiring) {
            // While a `.missed` is owed, look again soon: the consumer may have made room
            // and no new notification may come to carry it.
            let wait = self.flushMissed() ? intervalMilliseconds : min(intervalMilliseconds, 50)
            switch self.waitForWakeup(socket: connection.socket, milliseconds: wait) {
            case .stop:
                return nil
            case .readable:
                guard let notifications = connection.consumeNotifications() else {
                    return PostgresError(kind: .connection, message: "LISTEN connection closed by the server")
                }
                for notification in notifications { self.send(.notification(notification)) }
            case .timeout:
                do {
                    let readOnly = try connection.query(.serverIsReadOnly)
                    if try readOnly.first?.decode(Bool.self, at: 0) == true {
                        return PostgresError(
                            kind: .server, sqlState: PostgresError.readOnlySQLTransaction,
                            message: "the server turned read-only (a standby now, or default_transaction_read_only): notifications are committed elsewhere"
                        )
                    }
                } catch {
                    return error as? PostgresError ?? PostgresError(kind: .connection, message: "\(error)")
                }
                // Notifications may have arrived with the answer.
                guard let notifications = connection.consumeNotifications() else {
                    return PostgresError(kind: .connection, message: "LISTEN connection closed by the server")
                }
                for notification in notifications { self.send(.notification(notification)) }
            }
        }
        return nil
    }

    /// Hands an event to the consumer; when the buffer is full it is dropped, and `.missed`
    /// goes first once there is room.
    private func send(_ event: Event) {
        guard self.flushMissed() else { return }
        if case .dropped = self.continuation.yield(event) { self.behind.store(true, ordering: .relaxed) }
    }

    /// Yields the `.missed` owed since events were dropped, if there is room now; false
    /// while it is still owed.
    @discardableResult
    private func flushMissed() -> Bool {
        guard self.behind.load(ordering: .relaxed) else { return true }
        guard case .enqueued = self.continuation.yield(.missed) else { return false }
        self.behind.store(false, ordering: .relaxed)
        return true
    }

    private enum Wakeup {
        case readable, timeout, stop
    }

    /// Waits until `socket` is readable, `stop()` is called, or `milliseconds` pass.
    private func waitForWakeup(socket: Int32, milliseconds: Int) -> Wakeup {
        var descriptors = [
            pollfd(fd: self.wakeRead, events: Int16(POLLIN), revents: 0),
            pollfd(fd: socket, events: Int16(POLLIN), revents: 0),
        ]
        let count = nfds_t(socket >= 0 ? 2 : 1)
        while true {
            let ready = poll(&descriptors, count, Int32(clamping: milliseconds))
            if ready < 0 && errno == EINTR { continue }
            if descriptors[0].revents != 0 || self.stopRequested.load(ordering: .acquiring) { return .stop }
            if ready > 0 { return .readable }
            return .timeout
        }
    }

    /// Quotes an identifier the way `quote_ident` does.
    static func quotedIdentifier(_ name: String) -> String {
        "\"" + name.replacingOccurrences(of: "\"", with: "\"\"") + "\""
    }
}
