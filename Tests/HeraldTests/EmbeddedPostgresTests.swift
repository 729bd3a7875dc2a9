import Foundation
@testable import HeraldPostgres
import Logging
import Testing

@Suite("Embedded PostgreSQL launcher", .serialized)
struct EmbeddedPostgresTests {
    @Test("initdb on first start, a Unix socket in the folder and no TCP port, and a clean stop")
    func lifecycle() async throws {
        let directory = TestCluster.makeTemporaryDirectory(prefix: "herald-embedded")
        let server = try EmbeddedPostgres(directory: directory)
        TestCluster.stopAtExit(server)
        let url = try server.start()
        #expect(FileManager.default.fileExists(atPath: server.dataDirectory + "/PG_VERSION"))
        #expect(FileManager.default.fileExists(atPath: server.socketDirectory + "/.s.PGSQL.\(server.port)"))
        let pool = PostgresPool(configuration: .init(connectionString: url, maximumConnections: 1))
        let settings = try await pool.query("SELECT current_setting('listen_addresses')")
        #expect(try settings[0].decode(String.self, at: 0) == "")
        pool.shutdown()
        try server.stop()
        #expect(!server.isRunning())
        #expect(!FileManager.default.fileExists(atPath: server.dataDirectory + "/postmaster.pid"))
    }

    @Test("a stale postmaster.pid left by a crash does not stop the next start")
    func stalePIDFile() async throws {
        let directory = TestCluster.makeTemporaryDirectory(prefix: "herald-stale")
        let server = try EmbeddedPostgres(directory: directory)
        TestCluster.stopAtExit(server)
        try server.start()
        let pid = try #require(server.postmasterPID())
        // A crash: the postmaster dies without cleaning up.
        kill(pid, SIGKILL)
        var waited = 0
        while server.isRunning(), waited < 100 {
            usleep(50_000)
            waited += 1
        }
        // Let the orphaned backends go too, as after a machine crash.
        _ = try? CommandRunner.run("/usr/bin/pkill", ["-9", "-f", "postgres: .*\(directory)"])
        usleep(300_000)
        #expect(FileManager.default.fileExists(atPath: server.dataDirectory + "/postmaster.pid"))
        // Make the stale file name a live process that is not PostgreSQL (PID reuse).
        try "\(getpid())\n\(server.dataDirectory)\n".write(toFile: server.dataDirectory + "/postmaster.pid", atomically: true, encoding: .utf8)
        let url = try server.start()
        let pool = PostgresPool(configuration: .init(connectionString: url, maximumConnections: 1))
        let rows = try await pool.query("SELECT 1")
        #expect(try rows[0].decode(Int.self, at: 0) == 1)
        pool.shutdown()
        try server.stop()
    }

    @Test("as root, a data directory under a folder closed to others (like /root) still works", .enabled(if: geteuid() == 0))
    func closedParentFolder() async throws {
        let closed = TestCluster.makeTemporaryDirectory(prefix: "herald-closed")
        chmod(closed, 0o700)
        let server = try EmbeddedPostgres(directory: closed + "/clone/.herald")
        TestCluster.stopAtExit(server)
        let url = try server.start()
        let pool = PostgresPool(configuration: .init(connectionString: url, maximumConnections: 1))
        let rows = try await pool.query("SELECT current_user")
        #expect(try rows[0].decode(String.self, at: 0) == "postgres")
        pool.shutdown()
        try server.stop()
        // Only the server user was let through, and only to pass: others still cannot.
        var status = stat()
        stat(closed, &status)
        #expect(status.st_mode & 0o007 == 0)
        let acl = try CommandRunner.run("/usr/bin/getfacl", ["-p", closed])
        #expect(acl.output.contains("user:postgres:--x"))
    }

    @Test("missing PostgreSQL binaries give a message naming apt-get install postgresql and --database-url")
    func missingBinaries() throws {
        let error = #expect(throws: EmbeddedPostgres.Failure.self) {
            _ = try EmbeddedPostgres(
                directory: TestCluster.makeTemporaryDirectory(prefix: "herald-missing"),
                environment: ["HERALD_PG_BINDIR": "/nonexistent/postgresql/bin", "PATH": "/nonexistent"]
            )
        }
        #expect(error?.description.contains("apt-get install postgresql") == true)
        #expect(error?.description.contains("--database-url") == true)
    }
}
