import ArgumentParser
import Foundation
import HeraldPostgres

/// `herald-bench postgres`: what a statement costs through HeraldPostgres (a thread per
/// connection, continuations to Swift concurrency), to compare with pgbench running the
/// same statement from C.
struct PostgresScenario: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "postgres",
        abstract: "Round trips of one statement through HeraldPostgres's pool: statements/s and latency."
    )

    @Option(help: "libpq connection string.") var databaseURL: String
    @Option(name: .shortAndLong, help: "Concurrent callers.") var concurrency = 1
    @Option(help: "Pool size (default: the concurrency).") var poolSize: Int?
    @Option(name: .shortAndLong, help: "Seconds to run.") var duration = 5.0
    @Option(help: "The statement.") var sql = "SELECT 1"

    func run() async throws {
        let pool = PostgresPool(
            configuration: .init(connectionString: self.databaseURL, maximumConnections: self.poolSize ?? self.concurrency)
        )
        defer { pool.shutdown() }
        let query = PostgresQuery(stringLiteral: self.sql)
        // Warm up: open the connections and prepare the statement on each.
        try await withThrowingTaskGroup(of: Void.self) { group in
            for _ in 0..<self.concurrency { group.addTask { try await pool.query(query) } }
            try await group.waitForAll()
        }
        let deadline = ContinuousClock.now + .milliseconds(Int64(self.duration * 1000))
        let cpuBefore = ProcessUsage.cpuSeconds()
        let started = Date()
        let recorders = try await withThrowingTaskGroup(of: LatencyRecorder.self) { group in
            for _ in 0..<self.concurrency {
                group.addTask {
                    var recorder = LatencyRecorder()
                    while ContinuousClock.now < deadline {
                        let start = DispatchTime.now().uptimeNanoseconds
                        try await pool.query(query)
                        recorder.record(microseconds: (DispatchTime.now().uptimeNanoseconds - start) / 1000)
                    }
                    return recorder
                }
            }
            return try await group.reduce(into: []) { $0.append($1) }
        }
        let wall = Date().timeIntervalSince(started)
        var all = LatencyRecorder()
        for recorder in recorders { all.add(recorder) }
        print(String(format: "postgres: %@ at concurrency %d: %.0f statements/s", self.sql, self.concurrency, Double(all.count) / wall))
        print("latency: \(all.summary)")
        ProcessUsage.reportLoadSide(cpuSeconds: ProcessUsage.cpuSeconds() - cpuBefore, wallSeconds: wall)
    }
}
