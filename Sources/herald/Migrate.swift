import ArgumentParser
import HeraldCore
import HeraldPostgres
import Logging

/// `herald migrate`: applies the schema's migrations.
struct Migrate: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Apply the database migrations that are not applied yet.",
        discussion: """
            Safe to run while servers run and from several places at once: an advisory lock makes \
            each migration apply exactly once. It also creates the log's partitions for the coming \
            week, as servers keep them. With no --database-url it uses the private \
            PostgreSQL in --data-dir (starting it for the run when no server is running).
            """
    )

    @OptionGroup var database: DatabaseOptions

    func run() async throws {
        let logger = LogSetup.bootstrap()
        let (url, started) = try self.database.connect(logger: logger)
        let pool = PostgresPool(configuration: .init(connectionString: url, maximumConnections: 1, applicationName: "herald-migrate"))
        do {
            let applied = try await Migrator(pool: pool, logger: logger).migrate()
            // The log's partitions for the coming week, as a server keeps them, so producers
            // publishing from SQL before any server runs find one.
            _ = try await PartitionMaintenance.ensurePartitions(pool, days: PartitionMaintenance.daysAhead + 2)
            print(applied.isEmpty ? "Nothing to apply: the schema is up to date." : "Applied: \(applied.joined(separator: ", "))")
            pool.shutdown()
            try started?.stop()
        } catch {
            pool.shutdown()
            try? started?.stop()
            throw error
        }
    }
}
