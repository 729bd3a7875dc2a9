import Foundation
import Logging

/// A private PostgreSQL server in a folder of its own, the way `herald serve` runs when no
/// database URL is given (and the way the test suite makes throwaway clusters).
///
/// `initdb` on first start; `pg_ctl start` with a Unix socket in the folder and no TCP
/// port; `pg_ctl stop` on exit. PostgreSQL refuses to run as root, so as root the server
/// runs as the `postgres` system user, which is given access to the folder.
///
/// The server is Herald's alone: its folders are 0700 and its socket is 0700
/// (`unix_socket_permissions`), so no other local user can reach it (it trusts whoever
/// connects); a folder another user owns is refused rather than used; and a socket folder
/// outside the data directory (for deep paths) has a random name, never one another user
/// could create first.
public struct EmbeddedPostgres: Sendable {
    /// Why the server could not be set up or started.
    public struct Failure: Error, CustomStringConvertible {
        /// What happened and what to do about it.
        public var description: String
    }

    /// How `stop` shuts the server down (`pg_ctl -m`).
    public enum StopMode: String, Sendable {
        /// Roll back open transactions and shut down cleanly.
        case fast
        /// Abort at once, as a crash would; the next start recovers from the WAL.
        case immediate
    }

    /// The folder holding everything (`--data-dir`), as an absolute path.
    public let directory: String
    /// Where the binaries are (`initdb`, `pg_ctl`, `postgres`).
    public let binaries: String
    /// The user the server runs as, when Herald runs as root.
    public let serverUser: String?
    /// The port number in the socket's name; no TCP port is opened.
    public let port = 5432
    /// `max_connections` of a cluster this launcher creates.
    public var maximumConnections = 200

    /// The cluster's data directory.
    public var dataDirectory: String { self.directory + "/pgdata" }
    /// The server's log.
    public var logFile: String { self.directory + "/log/postgresql.log" }
    /// The folder of the server's Unix socket: `<data-dir>/run`, or, when that path is too
    /// long for a socket (at most 107 bytes), the private folder with a random name that
    /// the running server was started with (its `postmaster.pid` records it).
    public var socketDirectory: String {
        if self.socketFitsInDirectory { return self.preferredSocketDirectory }
        return self.runningSocketDirectory() ?? self.preferredSocketDirectory
    }

    var preferredSocketDirectory: String { self.directory + "/run" }

    var socketFitsInDirectory: Bool { (self.preferredSocketDirectory + "/.s.PGSQL.\(self.port)").utf8.count < 100 }

    /// The libpq connection string of the server (Unix socket, trust authentication).
    public var connectionString: String {
        "host=\(Self.quoted(self.socketDirectory)) port=\(self.port) user=postgres dbname=postgres"
    }

    /// Describes the server kept in `directory`; nothing is started yet.
    ///
    /// Throws when PostgreSQL's server binaries are not installed. `HERALD_PG_BINDIR` in
    /// `environment` names the folder of the binaries; otherwise they are searched for.
    public init(directory: String, environment: [String: String] = ProcessInfo.processInfo.environment) throws {
        let absolute = URL(fileURLWithPath: directory).standardizedFileURL.path
        self.directory = absolute.count > 1 && absolute.hasSuffix("/") ? String(absolute.dropLast()) : absolute
        self.binaries = try Self.findBinaries(environment: environment)
        self.serverUser = geteuid() == 0 ? "postgres" : nil
    }

    /// Whether `directory` holds a cluster (`start` would not have to create one).
    public static func exists(in directory: String) -> Bool {
        FileManager.default.fileExists(atPath: URL(fileURLWithPath: directory).standardizedFileURL.path + "/pgdata/PG_VERSION")
    }

    /// Initializes the cluster if needed and starts the server; returns its connection string.
    ///
    /// A server already running on this data directory (left by a Herald that was killed)
    /// is used as it is; a stale `postmaster.pid` left by a crash is removed first.
    @discardableResult
    public func start(logger: Logger = Logger(label: "herald.embedded")) throws -> String {
        try self.prepareDirectories(logger: logger)
        if !FileManager.default.fileExists(atPath: self.dataDirectory + "/PG_VERSION") {
            try self.initialize(logger: logger)
        }
        if self.isRunning() {
            logger.info("embedded PostgreSQL already running", metadata: ["data": "\(self.dataDirectory)"])
            return self.connectionString
        }
        self.removeStaleLockFiles(logger: logger)
        let socketDirectory = self.socketFitsInDirectory ? self.preferredSocketDirectory : try self.makePrivateSocketDirectory()
        let outcome = try self.run(
            "pg_ctl",
            [
                "-D", self.dataDirectory, "-l", self.logFile, "-w", "-t", "120",
                "-o", "-k \(Self.shellQuoted(socketDirectory)) -p \(self.port) -c unix_socket_permissions=0700", "start",
            ]
        )
        guard outcome.status == 0 else {
            throw Failure(description: "PostgreSQL did not start (see \(self.logFile)): \(outcome.output)")
        }
        logger.info("embedded PostgreSQL started", metadata: ["data": "\(self.dataDirectory)"])
        return self.connectionString
    }

    /// Stops the server and waits until it is down.
    public func stop(mode: StopMode = .fast) throws {
        guard self.isRunning() else { return }
        let privateSocketDirectory = self.socketFitsInDirectory ? nil : self.runningSocketDirectory()
        let outcome = try self.run("pg_ctl", ["-D", self.dataDirectory, "-m", mode.rawValue, "-w", "-t", "60", "stop"])
        guard outcome.status == 0 else {
            throw Failure(description: "PostgreSQL did not stop: \(outcome.output)")
        }
        // The socket and its lock are gone with the server; so goes the folder made for them.
        if let privateSocketDirectory { rmdir(privateSocketDirectory) }
    }

    /// Whether a PostgreSQL server is running on this data directory.
    public func isRunning() -> Bool {
        guard let pid = self.postmasterPID() else { return false }
        return Self.isPostgresProcess(pid)
    }

    /// The PID recorded in `postmaster.pid`, if any.
    func postmasterPID() -> Int32? {
        self.postmasterLine(0).flatMap { Int32($0) }
    }

    /// The socket folder a running server records in `postmaster.pid` (its fifth line).
    func runningSocketDirectory() -> String? {
        guard self.isRunning(), let folder = self.postmasterLine(4), !folder.isEmpty else { return nil }
        return folder
    }

    /// A line of `postmaster.pid` (from 0), trimmed.
    private func postmasterLine(_ index: Int) -> String? {
        guard let text = try? String(contentsOfFile: self.dataDirectory + "/postmaster.pid", encoding: .utf8) else { return nil }
        let lines = text.split(separator: "\n", omittingEmptySubsequences: false)
        guard index < lines.count else { return nil }
        return lines[index].trimmingCharacters(in: .whitespaces)
    }

    private func initialize(logger: Logger) throws {
        logger.info("creating embedded PostgreSQL cluster", metadata: ["data": "\(self.dataDirectory)"])
        let outcome = try self.run(
            "initdb",
            ["-D", self.dataDirectory, "-U", "postgres", "--auth=trust", "-E", "UTF8", "--no-locale", "--no-instructions"]
        )
        guard outcome.status == 0 else {
            // Leave no half-made cluster behind: the next start tries again from scratch.
            try? FileManager.default.removeItem(atPath: self.dataDirectory)
            throw Failure(description: "initdb failed: \(outcome.output)")
        }
        let settings = """

            # Herald's embedded server: a Unix socket only (the folder is given at start),
            # which no other local user may use.
            listen_addresses = ''
            unix_socket_permissions = 0700
            max_connections = \(self.maximumConnections)
            """
        let handle = try FileHandle(forWritingTo: URL(fileURLWithPath: self.dataDirectory + "/postgresql.conf"))
        defer { try? handle.close() }
        try handle.seekToEnd()
        try handle.write(contentsOf: Data(settings.utf8))
    }

    /// Removes `postmaster.pid` and the socket lock when the process they name is gone
    /// (or is not PostgreSQL: a PID can be reused after a crash or a reboot).
    private func removeStaleLockFiles(logger: Logger) {
        let pidFile = self.dataDirectory + "/postmaster.pid"
        if let pid = self.postmasterPID(), !Self.isPostgresProcess(pid) {
            logger.info("removing stale postmaster.pid", metadata: ["pid": "\(pid)"])
            try? FileManager.default.removeItem(atPath: pidFile)
        } else if FileManager.default.fileExists(atPath: pidFile), self.postmasterPID() == nil {
            try? FileManager.default.removeItem(atPath: pidFile)
        }
        guard self.socketFitsInDirectory else { return }  // a private folder is made anew each start
        let socketLock = self.preferredSocketDirectory + "/.s.PGSQL.\(self.port).lock"
        if let text = try? String(contentsOfFile: socketLock, encoding: .utf8),
            let pid = text.split(separator: "\n").first.flatMap({ Int32($0.trimmingCharacters(in: .whitespaces)) }),
            !Self.isPostgresProcess(pid)
        {
            try? FileManager.default.removeItem(atPath: socketLock)
            try? FileManager.default.removeItem(atPath: self.preferredSocketDirectory + "/.s.PGSQL.\(self.port)")
        }
    }

    /// Whether `pid` is a live PostgreSQL server process.
    static func isPostgresProcess(_ pid: Int32) -> Bool {
        guard pid > 0, kill(pid, 0) == 0 || errno == EPERM else { return false }
        guard let command = try? String(contentsOfFile: "/proc/\(pid)/comm", encoding: .utf8) else { return false }
        let name = command.trimmingCharacters(in: .whitespacesAndNewlines)
        return name == "postgres" || name == "postmaster"
    }

    /// Runs one of the PostgreSQL binaries, as the server user when Herald is root.
    func run(_ tool: String, _ arguments: [String]) throws -> CommandRunner.Outcome {
        try CommandRunner.run(self.binaries + "/" + tool, arguments, as: self.serverUser)
    }

    static func quoted(_ value: String) -> String {
        if !value.isEmpty, !value.contains(where: { $0 == " " || $0 == "'" || $0 == "\\" }) { return value }
        return "'" + value.replacingOccurrences(of: "\\", with: "\\\\").replacingOccurrences(of: "'", with: "\\'") + "'"
    }

    static func shellQuoted(_ value: String) -> String {
        "'" + value.replacingOccurrences(of: "'", with: "'\\''") + "'"
    }
}
