import Foundation
import HeraldPostgres
import Logging

/// The test process's throwaway PostgreSQL cluster, started once with the same launcher
/// `herald serve` uses, and stopped when the process exits. Each test gets a database of
/// its own, so tests run in parallel without seeing each other's data.
actor TestCluster {
    static let shared = TestCluster()

    private var server: EmbeddedPostgres?
    private var databases = 0

    /// A fresh, empty database; returns its connection string.
    func makeDatabase() async throws -> String {
        let server = try self.started()
        self.databases += 1
        let name = "test_\(self.databases)"
        let pool = PostgresPool(configuration: .init(connectionString: server.connectionString, maximumConnections: 1))
        defer { pool.shutdown() }
        try await pool.query(PostgresQuery(stringLiteral: "DROP DATABASE IF EXISTS \(name)"))
        try await pool.query(PostgresQuery(stringLiteral: "CREATE DATABASE \(name)"))
        return server.connectionString.replacingOccurrences(of: "dbname=postgres", with: "dbname=\(name)")
    }

    /// The cluster's superuser connection string to the `postgres` database.
    func adminConnectionString() throws -> String {
        try self.started().connectionString
    }

    private func started() throws -> EmbeddedPostgres {
        if let server { return server }
        let directory = TestCluster.makeTemporaryDirectory(prefix: "herald-tests")
        var server = try EmbeddedPostgres(directory: directory)
        // Tests run in parallel, each with servers of their own: room for their connections.
        server.maximumConnections = 1000
        try server.start(logger: Logger(label: "test.cluster"))
        TestCluster.stopAtExit(server)
        self.server = server
        return server
    }

    /// A new folder under the system's temporary folder, removed when the test process
    /// exits (after the servers are stopped).
    nonisolated static func makeTemporaryDirectory(prefix: String) -> String {
        let path = FileManager.default.temporaryDirectory.appendingPathComponent("\(prefix)-\(UUID().uuidString.prefix(8))").path
        try? FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true)
        exitStops.add(folder: path)
        return path
    }

    private static let exitStops = ExitStops()

    nonisolated static func stopAtExit(_ server: EmbeddedPostgres) {
        exitStops.add(server)
    }
}

/// Servers to stop, and folders to remove, when the test process exits.
final class ExitStops: Sendable {
    private struct Stops {
        var servers: [EmbeddedPostgres] = []
        var folders: [String] = []
        var registered = false
    }

    private let stops = LockedValue(Stops())

    func add(_ server: EmbeddedPostgres) {
        self.register { $0.servers.append(server) }
    }

    func add(folder: String) {
        self.register { $0.folders.append(folder) }
    }

    /// Records a stop; the first one registers the exit handler.
    private func register(_ change: (inout Stops) -> Void) {
        let first = self.stops.withLock { stops in
            change(&stops)
            defer { stops.registered = true }
            return !stops.registered
        }
        if first {
            atexit {
                let stops = TestCluster.exitStopsAll()
                for server in stops.servers {
                    try? server.stop(mode: .immediate)
                    try? FileManager.default.removeItem(atPath: server.directory)
                }
                for folder in stops.folders { try? FileManager.default.removeItem(atPath: folder) }
            }
        }
    }

    var all: (servers: [EmbeddedPostgres], folders: [String]) { self.stops.withLock { ($0.servers, $0.folders) } }
}

extension TestCluster {
    nonisolated static func exitStopsAll() -> (servers: [EmbeddedPostgres], folders: [String]) { exitStops.all }
}
