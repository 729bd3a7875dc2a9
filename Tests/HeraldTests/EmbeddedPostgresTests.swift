import CoreFoundation
import Foundation
@testable import HeraldPostgres
import Logging
import Testing

@Suite("Embedded PostgreSQL launcher", .serialized)
struct EmbeddedPostgresTests {
    /// The permission bits of `path` (all set when it cannot be read, so a check of them fails).
    static func permissions(_ path: String) -> Int {
        ((try? FileManager.default.attributesOfItem(atPath: path))?[.posixPermissions] as? Int) ?? 0o7777
    }

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
        #expect(Self.permissions(closed) & 0o007 == 0)
        let acl = try CommandRunner.run("/usr/bin/getfacl", ["-p", closed])
        #expect(acl.output.contains("user:postgres:--x"))
    }

    @Test("the private server is Herald's alone: its folders and socket are 0700, and another local user (nobody) cannot connect", .enabled(if: geteuid() == 0))
    func closedToOtherUsers() async throws {
        let directory = TestCluster.makeTemporaryDirectory(prefix: "herald-private")
        let server = try EmbeddedPostgres(directory: directory)
        TestCluster.stopAtExit(server)
        try server.start()
        defer { try? server.stop() }
        for folder in [directory, server.dataDirectory, server.socketDirectory, directory + "/log"] {
            // Nothing for others; for the group class nothing either, but the ACL mask that
            // lets the server user pass through the top folder (shown as group x).
            let mode = Self.permissions(folder)
            #expect(mode & 0o067 == 0, "\(folder) is \(String(mode & 0o777, radix: 8))")
        }
        #expect(Self.permissions(server.socketDirectory + "/.s.PGSQL.\(server.port)") & 0o077 == 0, "the socket is open to others")
        let psql = try #require(["/usr/bin/psql", "/usr/lib/postgresql/15/bin/psql"].first { FileManager.default.isExecutableFile(atPath: $0) })
        let attempt = try CommandRunner.run(
            psql, ["-h", server.socketDirectory, "-p", "\(server.port)", "-U", "postgres", "-d", "postgres", "-Atc", "SELECT 'in'"],
            as: "nobody"
        )
        #expect(attempt.status != 0, "nobody connected: \(attempt.output)")
        #expect(!attempt.output.contains("in\n") && attempt.output != "in")
        // Herald itself (root) still connects.
        let pool = PostgresPool(configuration: .init(connectionString: server.connectionString, maximumConnections: 1))
        #expect(try await pool.query("SELECT 1")[0].decode(Int.self, at: 0) == 1)
        pool.shutdown()
    }

    @Test("a data directory another user already owns is refused, not used", .enabled(if: geteuid() == 0))
    func foreignFolderRefused() throws {
        let parent = TestCluster.makeTemporaryDirectory(prefix: "herald-foreign")
        let directory = parent + "/data"
        mkdir(directory, 0o755)
        let nobody = try #require(getpwnam("nobody"))
        chown(directory, nobody.pointee.pw_uid, nobody.pointee.pw_gid)
        let server = try EmbeddedPostgres(directory: directory)
        let error = #expect(throws: EmbeddedPostgres.Failure.self) { try server.start() }
        #expect(error?.description.contains("belongs to nobody") == true, "\(String(describing: error))")
        #expect(!server.isRunning())
    }

    @Test("a data directory too deep for a socket path gets a socket folder in /tmp with a random name, private, gone after stop")
    func deepDirectorySocket() async throws {
        let deep = TestCluster.makeTemporaryDirectory(prefix: "herald-deep") + "/" + String(repeating: "d", count: 60) + "/" + String(repeating: "e", count: 40)
        let server = try EmbeddedPostgres(directory: deep)
        TestCluster.stopAtExit(server)
        try server.start()
        let socketDirectory = server.socketDirectory
        #expect(socketDirectory.hasPrefix("/tmp/herald-"))
        #expect(!socketDirectory.hasPrefix(deep))
        #expect(Self.permissions(socketDirectory) & 0o777 == 0o700)
        // Not derived from the path: another instance of the same folder would not guess it.
        var hash: UInt64 = 14_695_981_039_346_656_037
        for byte in server.directory.utf8 { hash = (hash ^ UInt64(byte)) &* 1_099_511_628_211 }
        #expect(socketDirectory != "/tmp/herald-\(String(hash, radix: 36))")
        let pool = PostgresPool(configuration: .init(connectionString: server.connectionString, maximumConnections: 1))
        #expect(try await pool.query("SELECT 1")[0].decode(Int.self, at: 0) == 1)
        pool.shutdown()
        try server.stop()
        #expect(!FileManager.default.fileExists(atPath: socketDirectory))
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
