import Logging
import Synchronization

/// A bounded pool of PostgreSQL connections.
///
/// At most `maximumConnections` connections exist; a caller that finds all of them busy
/// waits until one is released, it does not fail. Connections are opened lazily and a
/// broken one is replaced on its next use. Each connection has its own thread, so no
/// libpq call blocks Swift concurrency's cooperative pool.
public final class PostgresPool: Sendable {
    /// How a pool connects.
    public struct Configuration: Sendable {
        /// A libpq connection string, URI (`postgresql://...`) or key=value; multi-host,
        /// `sslmode`, `.pgpass` and service files work as libpq documents them.
        public var connectionString: String
        /// The most connections the pool opens.
        public var maximumConnections: Int
        /// The `application_name` the server shows for these connections.
        public var applicationName: String
        /// Settings made on every new connection (`set_config`), e.g. `plan_cache_mode`.
        public var sessionSettings: [(name: String, value: String)]
        /// How long a caller may wait for a connection before it gets an `.overloaded` error.
        public var leaseTimeout: Duration
        /// The most callers that may wait for a connection; one more gets an `.overloaded` error.
        public var maximumWaiters: Int

        /// Creates a configuration.
        public init(
            connectionString: String,
            maximumConnections: Int = 8,
            applicationName: String = "herald",
            sessionSettings: [(name: String, value: String)] = [],
            leaseTimeout: Duration = .seconds(10),
            maximumWaiters: Int = 10_000
        ) {
            self.connectionString = connectionString
            self.maximumConnections = maximumConnections
            self.applicationName = applicationName
            self.sessionSettings = sessionSettings
            self.leaseTimeout = leaseTimeout
            self.maximumWaiters = maximumWaiters
        }
    }

    private typealias Waiter = CheckedContinuation<Int, any Error>

    private struct State {
        var machine: PoolStateMachine<Waiter>
        var threads: [ConnectionThread] = []
    }

    /// The pool's configuration.
    public let configuration: Configuration
    private let state: Mutex<State>
    private let logger: Logger
    private let statements = Atomic<Int>(0)
    private let generation: PoolGeneration

    /// Creates a pool; no connection is opened until one is needed. A pool made
    /// `retiringWith` another to the same database retires its connections with the
    /// other's (`retireConnections()`): a read-only server found by one is left by both.
    public init(configuration: Configuration, logger: Logger = Logger(label: "herald.postgres"), retiringWith other: PostgresPool? = nil) {
        self.configuration = configuration
        self.logger = logger
        self.generation = other?.generation ?? PoolGeneration()
        self.state = Mutex(
            State(machine: PoolStateMachine(maximum: configuration.maximumConnections, maximumWaiters: configuration.maximumWaiters))
        )
        self.generation.onRetire { [weak self] in self?.closeRetiredConnections() }
    }

    /// The number of connections the pool has opened a slot for.
    public var size: Int { self.state.withLock { $0.machine.size } }

    /// The number of callers waiting for a connection.
    public var waiting: Int { self.state.withLock { $0.machine.waiting } }

    /// The number of connections leased so far (each `query` is one lease).
    public var leaseCount: Int { self.statements.load(ordering: .relaxed) }

    /// The number of connections leased now.
    public var inUse: Int { self.state.withLock { $0.machine.inUse } }

    /// How many callers were refused a connection so far: too many waiting, or none free
    /// within the lease timeout.
    public var refusedLeases: Int { self.refused.load(ordering: .relaxed) }
    private let refused = Atomic<Int>(0)

    /// Replaces every connection made so far, each before its next statement outside a
    /// transaction: for when the server they reach was found read-only (a statement on one
    /// of them answered `25006` does this by itself).
    public func retireConnections() {
        self.generation.retireAll()
    }

    /// Leases a connection for the duration of `body`.
    public func withConnection<Result: Sendable>(
        _ body: (PostgresConnection) async throws -> Result
    ) async throws -> Result {
        let slot = try await self.lease()
        let thread = self.state.withLock { $0.threads[slot] }
        let generation = self.generation.value
        defer {
            // Retired while leased (and so perhaps inside a transaction when swept): closed
            // now that it is done, not left open until the slot's next use.
            if self.generation.value != generation { Self.closeIfRetired(thread, self.generation) }
            self.release(slot)
        }
        return try await body(PostgresConnection(thread: thread, configuration: self.configuration, generation: self.generation))
    }

    /// Runs one statement on a pooled connection.
    @discardableResult
    public func query(_ query: PostgresQuery) async throws -> PostgresResult {
        try await self.withConnection { try await $0.query(query) }
    }

    /// Runs `body` in a transaction: committed when it returns, rolled back when it throws.
    public func withTransaction<Result: Sendable>(
        _ body: (PostgresConnection) async throws -> Result
    ) async throws -> Result {
        try await self.withConnection { connection in
            try await connection.query("BEGIN")
            let result: Result
            do {
                result = try await body(connection)
            } catch {
                _ = try? await connection.query("ROLLBACK")
                throw error
            }
            try await connection.query("COMMIT")
            return result
        }
    }

    /// Fails waiting callers, lets running statements finish, and closes every connection.
    public func shutdown() {
        let (waiters, threads) = self.state.withLock { state in
            let (waiters, _) = state.machine.shutdown()
            return (waiters, state.threads)
        }
        for waiter in waiters {
            waiter.resume(throwing: PostgresError(kind: .shutdown, message: "the connection pool is shut down"))
        }
        for thread in threads { thread.stop() }
    }

    /// Closes each connection of a retired generation that is not inside a transaction,
    /// on its own thread, after the job it may be running.
    private func closeRetiredConnections() {
        for thread in self.state.withLock({ $0.threads }) { Self.closeIfRetired(thread, self.generation) }
    }

    private static func closeIfRetired(_ thread: ConnectionThread, _ generation: PoolGeneration) {
        thread.submit { connection in
            guard let live = connection, live.generation != generation.value, !live.isInTransaction else { return }
            live.close()
            connection = nil
        }
    }

    private func lease() async throws -> Int {
        self.statements.add(1, ordering: .relaxed)
        return try await withCheckedThrowingContinuation { (continuation: Waiter) in
            let action = self.state.withLock { state -> PoolStateMachine<Waiter>.LeaseAction in
                let action = state.machine.lease(continuation, deadline: .now + self.configuration.leaseTimeout)
                if case .create(let slot) = action {
                    precondition(slot == state.threads.count)
                    state.threads.append(ConnectionThread(name: "herald-pg-\(slot)"))
                }
                return action
            }
            switch action {
            case .use(let slot), .create(let slot):
                continuation.resume(returning: slot)
            case .wait(let startTimer):
                if startTimer { Task { await self.expireWaiters() } }
            case .overloaded:
                self.refused.add(1, ordering: .relaxed)
                continuation.resume(
                    throwing: PostgresError(kind: .overloaded, message: "too many callers wait for a database connection")
                )
            case .shutdown:
                continuation.resume(throwing: PostgresError(kind: .shutdown, message: "the connection pool is shut down"))
            }
        }
    }

    /// Fails a waiter that waited longer than the lease time-out.
    /// The pool's one waiter timer: fails the waiters whose lease timeout passed, for as
    /// long as anyone waits.
    private func expireWaiters() async {
        while true {
            let (expired, next) = self.state.withLock { $0.machine.expire(now: .now) }
            for waiter in expired {
                self.refused.add(1, ordering: .relaxed)
                waiter.resume(
                    throwing: PostgresError(
                        kind: .overloaded, message: "no database connection was free within \(self.configuration.leaseTimeout)"
                    )
                )
            }
            guard let next else { return }
            try? await Task.sleep(until: next, clock: .continuous)
        }
    }

    private func release(_ slot: Int) {
        let (action, thread) = self.state.withLock { state in
            (state.machine.release(slot), state.threads[slot])
        }
        switch action {
        case .handOver(let slot, let waiter):
            waiter.resume(returning: slot)
        case .none:
            break
        case .close:
            thread.stop()
        }
    }
}
