import CLibPQ
import Glibc

/// One libpq connection, used by exactly one thread (see `ConnectionThread`).
///
/// Every call here may block: they run on the connection's own thread, never on Swift
/// concurrency's cooperative pool. Statements are prepared once per connection and then
/// executed by name; results come back in binary format.
final class LibPQConnection {
    private var handle: OpaquePointer?
    /// The server process behind the connection (read once connected).
    private(set) var backend: PostgresBackend?
    /// The pool generation the connection was made in (`PoolGeneration`).
    var generation = 0
    /// Statement names by SQL text.
    private var preparedStatements: [String: String] = [:]
    /// At most this many statements stay prepared; others run unnamed.
    private static let preparedStatementLimit = 256

    private init(handle: OpaquePointer) {
        self.handle = handle
    }

    deinit {
        self.close()
    }

    /// Connects with a libpq connection string (URI or key=value), blocking until done.
    ///
    /// Herald's defaults (a connect timeout, TCP keepalives, UTF-8, an application name,
    /// and `target_session_attrs=read-write`, so that of a multi-host string's servers only
    /// the writable one is used) come first, so anything in `connectionString` overrides them.
    static func connect(
        _ connectionString: String,
        applicationName: String,
        settings sessionSettings: [(name: String, value: String)] = []
    ) throws -> LibPQConnection {
        let settings: [(String, String)] = [
            ("connect_timeout", "10"),
            ("keepalives_idle", "30"),
            ("keepalives_interval", "10"),
            ("keepalives_count", "3"),
            ("target_session_attrs", "read-write"),
            ("application_name", applicationName),
            ("client_encoding", "UTF8"),
            ("dbname", connectionString),
        ]
        let keys = settings.map { strdup($0.0) }
        let values = settings.map { strdup($0.1) }
        defer {
            keys.forEach { free($0) }
            values.forEach { free($0) }
        }
        var keyPointers: [UnsafePointer<CChar>?] = keys.map { UnsafePointer($0) } + [nil]
        var valuePointers: [UnsafePointer<CChar>?] = values.map { UnsafePointer($0) } + [nil]
        guard let handle = PQconnectdbParams(&keyPointers, &valuePointers, 1) else {
            throw PostgresError(kind: .connection, message: "libpq could not allocate a connection")
        }
        guard PQstatus(handle) == CONNECTION_OK else {
            let message = Self.trimmed(PQerrorMessage(handle))
            PQfinish(handle)
            throw PostgresError(kind: .connection, message: message.isEmpty ? "could not connect" : message)
        }
        // libpq prints notices to stderr by default; Herald's statements raise none that matter.
        PQsetNoticeProcessor(handle, { _, _ in }, nil)
        let connection = LibPQConnection(handle: handle)
        // Which server process this is, for a statement lost with the connection (`PostgresError.backend`).
        let started = try connection.query(
            PostgresQuery(sql: "SELECT backend_start::text FROM pg_stat_activity WHERE pid = pg_backend_pid()", bindings: PostgresBindings())
        )
        if let startedAt = try started.first?.decode(String?.self, at: 0) {
            connection.backend = PostgresBackend(pid: PQbackendPID(handle), startedAt: startedAt)
        }
        for setting in sessionSettings {
            var bindings = PostgresBindings()
            bindings.append(setting.name)
            bindings.append(setting.value)
            _ = try connection.query(PostgresQuery(sql: "SELECT set_config($1, $2, false)", bindings: bindings))
        }
        return connection
    }

    /// Whether the connection is usable as far as libpq knows.
    var isConnected: Bool {
        guard let handle else { return false }
        return PQstatus(handle) == CONNECTION_OK
    }

    /// Whether a transaction is open (or failed and not yet ended) on the connection.
    var isInTransaction: Bool {
        guard let handle else { return false }
        return PQtransactionStatus(handle) != PQTRANS_IDLE
    }

    /// The server process's PID, as `pg_stat_activity.pid` shows it.
    var backendPID: Int32 {
        guard let handle else { return 0 }
        return PQbackendPID(handle)
    }

    /// The connection's socket.
    var socket: Int32 {
        guard let handle else { return -1 }
        return PQsocket(handle)
    }

    /// Checks, without blocking, that an idle connection is still alive.
    ///
    /// An idle connection has nothing to read. When the server ended it (for example
    /// `pg_terminate_backend`, or a restart), the socket is readable with the server's last
    /// error or end-of-file: consuming it marks the connection bad before a statement is
    /// sent on it. Notifications that arrived meanwhile are dropped.
    func checkIdleConnectionIsAlive() -> Bool {
        guard let handle, PQstatus(handle) == CONNECTION_OK else { return false }
        // The server's goodbye (an error message, then end-of-file) may take two reads.
        for _ in 0..<4 {
            var descriptor = pollfd(fd: PQsocket(handle), events: Int16(POLLIN), revents: 0)
            guard poll(&descriptor, 1, 0) > 0 else { break }
            if PQconsumeInput(handle) == 0 { return false }
            while let notify = PQnotifies(handle) { PQfreemem(notify) }
        }
        return PQstatus(handle) == CONNECTION_OK
    }

    /// Runs one statement with parameters and returns its rows.
    func query(_ query: PostgresQuery) throws -> PostgresResult {
        guard let handle else { throw PostgresError(kind: .connection, message: "connection is closed") }
        let bindings = query.bindings
        guard !bindings.isTooLarge else {
            throw PostgresError(kind: .server, sqlState: "54000", message: "a parameter is larger than the protocol's 2 GiB")
        }
        let result: OpaquePointer?
        if let name = try self.preparedStatement(for: query) {
            result = bindings.withLibPQArrays { values, lengths, formats in
                PQexecPrepared(handle, name, Int32(bindings.count), values, lengths, formats, 1)
            }
        } else {
            result = bindings.types.withUnsafeBufferPointer { types in
                bindings.withLibPQArrays { values, lengths, formats in
                    PQexecParams(
                        handle, query.sql, Int32(bindings.count), types.baseAddress, values, lengths, formats, 1
                    )
                }
            }
        }
        return try self.checked(result, executed: true)
    }

    /// Runs SQL text that may hold several statements and no parameters (migrations).
    func simpleQuery(_ sql: String) throws {
        guard let handle else { throw PostgresError(kind: .connection, message: "connection is closed") }
        _ = try self.checked(PQexec(handle, sql), executed: true)
    }

    /// Reads what the server sent and returns the notifications among it.
    ///
    /// Returns nil when the connection turned out to be broken.
    func consumeNotifications() -> [PostgresNotification]? {
        guard let handle, PQconsumeInput(handle) != 0 else { return nil }
        var notifications: [PostgresNotification] = []
        while let notify = PQnotifies(handle) {
            let channel = String(cString: notify.pointee.relname)
            let payload = String(cString: notify.pointee.extra)
            notifications.append(PostgresNotification(channel: channel, payload: payload, pid: notify.pointee.be_pid))
            PQfreemem(notify)
        }
        return PQstatus(handle) == CONNECTION_OK ? notifications : nil
    }

    /// Closes the connection.
    func close() {
        if let handle {
            PQfinish(handle)
            self.handle = nil
        }
    }

    private func preparedStatement(for query: PostgresQuery) throws -> String? {
        if let name = self.preparedStatements[query.sql] { return name }
        guard self.preparedStatements.count < Self.preparedStatementLimit, let handle else { return nil }
        let name = "herald_\(self.preparedStatements.count)"
        let result = query.bindings.types.withUnsafeBufferPointer { types in
            PQprepare(handle, name, query.sql, Int32(query.bindings.count), types.baseAddress)
        }
        _ = try self.checked(result, executed: false)
        self.preparedStatements[query.sql] = name
        return name
    }

    /// Turns a libpq result into a `PostgresResult`, or throws the error it carries. When
    /// the statement was `executed` (sent to run) and the connection is gone, the error
    /// says its outcome is unknown.
    private func checked(_ result: OpaquePointer?, executed: Bool) throws -> PostgresResult {
        guard let result else {
            var error = PostgresError(kind: .connection, message: self.connectionErrorMessage())
            error.outcomeUnknown = executed
            error.backend = executed ? self.backend : nil
            throw error
        }
        switch PQresultStatus(result) {
        case PGRES_TUPLES_OK, PGRES_COMMAND_OK, PGRES_EMPTY_QUERY:
            return PostgresResult(handle: result)
        default:
            var error = self.error(from: result)
            PQclear(result)
            error.outcomeUnknown = executed && error.kind == .connection
            error.backend = error.outcomeUnknown ? self.backend : nil
            throw error
        }
    }

    private func error(from result: OpaquePointer) -> PostgresError {
        func field(_ code: Character) -> String? {
            guard let value = PQresultErrorField(result, Int32(code.asciiValue!)) else { return nil }
            return String(cString: value)
        }
        let sqlState = field("C")
        let message = field("M") ?? Self.trimmed(PQresultErrorMessage(result))
        // No SQLSTATE, or a broken connection: the failure is the connection's, not the data's.
        let kind: PostgresError.Kind = (sqlState == nil || !self.isConnected) ? .connection : .server
        return PostgresError(
            kind: kind,
            sqlState: sqlState,
            message: message.isEmpty ? self.connectionErrorMessage() : message,
            detail: field("D"),
            hint: field("H")
        )
    }

    private func connectionErrorMessage() -> String {
        guard let handle else { return "connection is closed" }
        let message = Self.trimmed(PQerrorMessage(handle))
        return message.isEmpty ? "connection lost" : message
    }

    private static func trimmed(_ text: UnsafePointer<CChar>?) -> String {
        guard let text else { return "" }
        var value = String(cString: text)
        while let last = value.last, last.isWhitespace { value.removeLast() }
        return value
    }
}
