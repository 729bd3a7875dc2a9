import Foundation
@testable import HeraldPostgres
import Logging
import Synchronization

/// Two PostgreSQL servers on Unix sockets, one primary and one streaming standby of it
/// (`pg_basebackup -R`), which a test fails over and back the way docs/operations.md says
/// an operator does: promote the standby, rewind the old primary (`pg_rewind`) and restart
/// it as the new primary's standby.
///
/// Herald reaches them through `connectionString`, a multi-host string naming both; each
/// member alone is reached with `url(of:)`, which also takes a standby.
final class ReplicatedCluster: Sendable {
    /// The two servers; `primary` says which one is the primary now.
    let members: [EmbeddedPostgres]
    private let primaryIndex = Mutex(0)
    private let logger = Logger(label: "test.replication")

    /// Both members, primary first at the start: `host=a,b port=5432,5432`.
    var connectionString: String { self.connectionString(standbyFirst: false) }

    /// Both members, the first standby first when `standbyFirst` (as an instance
    /// configured with the hosts in another order has them).
    func connectionString(standbyFirst: Bool) -> String {
        let members = standbyFirst ? self.members.reversed() : self.members
        let hosts = members.map(\.socketDirectory).joined(separator: ",")
        let ports = members.map { "\($0.port)" }.joined(separator: ",")
        return "host=\(hosts) port=\(ports) user=postgres dbname=postgres"
    }

    var primary: EmbeddedPostgres { self.members[self.primaryIndex.withLock { $0 }] }
    var standby: EmbeddedPostgres { self.members[1 - self.primaryIndex.withLock { $0 }] }

    /// One member, primary or standby (`target_session_attrs=any`).
    static func url(of member: EmbeddedPostgres) -> String {
        member.connectionString + " target_session_attrs=any"
    }

    /// Starts a primary and a standby streaming from it, synchronous when `synchronous`.
    static func start(synchronous: Bool) async throws -> ReplicatedCluster {
        let base = TestCluster.makeTemporaryDirectory(prefix: "herald-ha")
        let first = try EmbeddedPostgres(directory: base + "/a")
        let second = try EmbeddedPostgres(directory: base + "/b")
        TestCluster.stopAtExit(first)
        TestCluster.stopAtExit(second)
        let cluster = ReplicatedCluster(members: [first, second])
        try first.start(logger: cluster.logger)
        // pg_rewind needs hint bits WAL-logged; WAL is kept for a standby that was away.
        try await Self.sql(first, "ALTER SYSTEM SET wal_log_hints = on", "ALTER SYSTEM SET wal_keep_size = '256MB'")
        try first.stop()
        try first.start(logger: cluster.logger)
        try second.prepareDirectories(logger: cluster.logger)
        try Self.check(
            second.run(
                "pg_basebackup",
                ["-D", second.dataDirectory, "-R", "-X", "stream", "-c", "fast", "-h", first.socketDirectory, "-p", "\(first.port)", "-U", "postgres"]
            ),
            "pg_basebackup"
        )
        try second.start(logger: cluster.logger)
        try await cluster.replicate(synchronously: synchronous)
        return cluster
    }

    private init(members: [EmbeddedPostgres]) {
        self.members = members
    }

    /// Runs statements on `member` alone, on a connection of their own.
    @discardableResult
    static func sql(_ member: EmbeddedPostgres, _ statements: String...) async throws -> PostgresResult? {
        let pool = PostgresPool(configuration: .init(connectionString: Self.url(of: member), maximumConnections: 1, applicationName: "test-admin"))
        defer { pool.shutdown() }
        var last: PostgresResult?
        for statement in statements { last = try await pool.query(PostgresQuery(stringLiteral: statement)) }
        return last
    }

    /// Waits (up to 10 s) until a new session on `member` shows `setting` as `value`. A
    /// reload is asynchronous: once a new session has it, the postmaster has reread the
    /// configuration and passed the reload on to every session, and each applies it before
    /// its next statement.
    static func waitForSetting(_ member: EmbeddedPostgres, _ setting: String, _ value: String) async throws {
        let deadline = ContinuousClock.now + .seconds(10)
        var seen = ""
        while ContinuousClock.now < deadline {
            seen = try await Self.sql(member, "SHOW \(setting)")?.first?.decode(String.self, at: 0) ?? ""
            if seen == value { return }
            try await Task.sleep(for: .milliseconds(20))
        }
        throw TestFailure("\(setting) is still \(seen), not \(value), 10 s after a reload")
    }

    /// Makes the primary wait for the standby at each commit (`synchronous_standby_names`),
    /// or not, and waits until the standby streams in that mode.
    func replicate(synchronously: Bool) async throws {
        let names = synchronously ? "*" : ""
        try await Self.sql(self.primary, "ALTER SYSTEM SET synchronous_standby_names = '\(names)'", "SELECT pg_reload_conf()")
        let wanted = synchronously ? "sync" : "async"
        let deadline = ContinuousClock.now + .seconds(30)
        while ContinuousClock.now < deadline {
            let rows = try await Self.sql(self.primary, "SELECT count(*) FROM pg_stat_replication WHERE sync_state = '\(wanted)' AND state = 'streaming'")
            if try rows?.first?.decode(Int.self, at: 0) == 1 { return }
            try await Task.sleep(for: .milliseconds(50))
        }
        throw TestFailure("the standby did not stream as \(wanted) within 30 s")
    }

    /// Waits until the standby has replayed all the primary has written.
    func standbyCaughtUp() async throws {
        let deadline = ContinuousClock.now + .seconds(30)
        while ContinuousClock.now < deadline {
            let rows = try await Self.sql(
                self.primary,
                "SELECT count(*) FROM pg_stat_replication WHERE replay_lsn = pg_current_wal_lsn()"
            )
            if try rows?.first?.decode(Int.self, at: 0) == 1 { return }
            try await Task.sleep(for: .milliseconds(20))
        }
        throw TestFailure("the standby did not catch up within 30 s")
    }

    /// Promotes the standby; it takes commits alone (no standby of its own yet, so it waits
    /// for none) from here on.
    func promote() async throws {
        let standby = self.standby
        try Self.check(standby.run("pg_ctl", ["-D", standby.dataDirectory, "-w", "-t", "60", "promote"]), "pg_ctl promote")
        try await Self.sql(standby, "ALTER SYSTEM SET synchronous_standby_names = ''", "SELECT pg_reload_conf()")
        self.primaryIndex.withLock { $0 = 1 - $0 }
    }

    /// Stops the primary (`immediate`: as a crash; `fast`: a planned switch, which first
    /// sends the standby all WAL) and promotes the standby. Returns when the new primary
    /// takes commits.
    func failOver(stop mode: EmbeddedPostgres.StopMode) async throws {
        try self.primary.stop(mode: mode)
        try await self.promote()
    }

    /// Brings the stopped old primary back as a standby of the new one: `pg_rewind` from the
    /// new primary (with the crash recovery it runs first on a server that was not shut
    /// down cleanly), `standby.signal` and `primary_conninfo`, then a start. Never started as
    /// a primary on the way: that would be the split brain docs/operations.md warns of.
    func rejoin(synchronously: Bool) async throws {
        let (old, current) = (self.standby, self.primary)
        // A server promoted a moment ago still names its old timeline in its control file
        // until a checkpoint; pg_rewind reads it there (and would find nothing to rewind).
        try await Self.sql(current, "CHECKPOINT")
        try Self.check(
            old.run("pg_rewind", ["-D", old.dataDirectory, "--source-server", Self.url(of: current)]),
            "pg_rewind"
        )
        let conninfo = "host=\(current.socketDirectory) port=\(current.port) user=postgres application_name=standby"
        let auto = try String(contentsOfFile: old.dataDirectory + "/postgresql.auto.conf", encoding: .utf8)
        try (auto + "primary_conninfo = '\(conninfo)'\n").write(toFile: old.dataDirectory + "/postgresql.auto.conf", atomically: false, encoding: .utf8)
        guard FileManager.default.createFile(atPath: old.dataDirectory + "/standby.signal", contents: nil) else {
            throw TestFailure("standby.signal could not be written in \(old.dataDirectory)")
        }
        if let user = old.serverUser, let account = getpwnam(user) {
            chown(old.dataDirectory + "/standby.signal", account.pointee.pw_uid, account.pointee.pw_gid)
        }
        try old.start(logger: self.logger)
        try await self.replicate(synchronously: synchronously)
    }

    /// Stops both servers.
    func stop() {
        for member in self.members { try? member.stop(mode: .immediate) }
    }

    private static func check(_ outcome: CommandRunner.Outcome, _ what: String) throws {
        guard outcome.status == 0 else { throw TestFailure("\(what) failed: \(outcome.output)") }
    }
}
